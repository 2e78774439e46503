//! The all-in-one server's embedded MQTT broker.
//!
//! The network server talks to gateways and integrations over MQTT. So that
//! `network-server` with no external services still gives a working network, it
//! can run an MQTT broker in-process: [`rumqttd`], configured here in code (no
//! config file), with no TLS, no websockets and **no authentication**. It is meant
//! for localhost (the default bind address is `127.0.0.1`); anything reachable from
//! a network should use a real broker (Mosquitto, EMQX, ...) instead.
//!
//! # One protocol version per port
//!
//! rumqttd serves exactly one MQTT protocol version per listener: a v5 listener
//! closes the connection of an MQTT 3.1.1 client without a CONNACK, and the other
//! way round. Both listeners share one router, so a message published on one is
//! delivered to subscribers on the other. The broker therefore listens twice:
//!
//! - [`EmbeddedBroker::addr`] (`bind`, default `127.0.0.1:1883`) speaks **MQTT 5**,
//!   the protocol of the server's own gateway backend and integration clients;
//! - [`EmbeddedBroker::addr_v4`] (`bind_v4`, default `127.0.0.1:1884`) speaks
//!   **MQTT 3.1.1**, for gateway bridges and MQTT forwarders, which use 3.1.1 by
//!   default.
//!
//! # `TCP_NODELAY`
//!
//! The broker's connections have Nagle's algorithm off, so that a QoS 0 message
//! reaches its subscribers at once. rumqttd has no setting for it; on Linux,
//! where an accepted socket inherits `TCP_NODELAY` from its listener,
//! [`EmbeddedBroker::start_with`] sets it on rumqttd's two listening sockets.
//! Elsewhere, or if that fails, the connections keep Nagle's algorithm and a
//! warning says so.
//!
//! # Shared subscriptions
//!
//! rumqttd supports MQTT 5 shared subscriptions (`$share/{group}/{filter}`),
//! distributing messages round-robin among the group's members (its router
//! handles them, so a 3.1.1 client's `$share/...` filter is shared too; only the
//! MQTT 5 case is tested).
//! Its CONNACK carries no "Shared Subscription Available" property, which MQTT 5
//! (3.2.2.3.13) defines as "available".
//!
//! # Lifetime
//!
//! rumqttd offers no way to stop a running broker: its router and listener threads
//! run until the process exits. Dropping an [`EmbeddedBroker`] only drops the
//! handle; the broker keeps serving. Start it once per process.
//!
//! # Logging
//!
//! rumqttd logs through `tracing` under the target [`LOG_TARGET`] (`rumqttd`;
//! `rumqttd::server::broker` for listeners and connections,
//! `rumqttd::router::routing` for sessions and subscriptions). It logs nothing per
//! message at `info`, but about five lines per client connection and one per new
//! subscription filter. At `error` it logs clients refused for speaking the other
//! protocol version (`Error while handling MQTT connect packet ...
//! InvalidProtocolLevel`: the sign of a 3.1.1 gateway bridge pointed at the MQTT 5
//! port), and also, spuriously, a client that disconnects cleanly (`no-connection
//! id N is already gone`, `router-drop`). [`DEFAULT_LOG_DIRECTIVE`] keeps
//! connection churn out of the server's `info` logs and keeps the errors.
//!
//! # Example
//!
//! ```no_run
//! use network_server::broker::EmbeddedBroker;
//!
//! let broker = EmbeddedBroker::start("127.0.0.1:1883".parse().unwrap())?;
//! println!("MQTT 5 on {}, MQTT 3.1.1 on {}", broker.addr(), broker.addr_v4());
//! # Ok::<(), network_server::broker::BrokerError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttd::{Config, ConnectionSettings, RouterConfig, SegmentConfig, ServerSettings, Strategy};

/// The `tracing` target under which rumqttd logs.
pub const LOG_TARGET: &str = "rumqttd";

/// The `tracing` filter directive the binary adds to its own filter (unless the
/// operator sets one for [`LOG_TARGET`]): rumqttd's per-connection `info` lines
/// off, its warnings and errors on. See the module documentation's "Logging".
pub const DEFAULT_LOG_DIRECTIVE: &str = "rumqttd=warn";

/// The largest PUBLISH payload the broker accepts, in bytes (256 KiB).
pub const MAX_PAYLOAD_SIZE: usize = 256 * 1024;

/// rumqttd limits a packet's remaining length, not its payload: this leaves room
/// for the topic and the MQTT 5 properties next to a [`MAX_PAYLOAD_SIZE`] payload.
const PACKET_OVERHEAD: usize = 8 * 1024;

/// How long [`EmbeddedBroker::start`] waits for the listeners to accept an MQTT
/// connection.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how big the embedded broker is; [`BrokerConfig::default`] is the
/// all-in-one server's setting.
///
/// ```
/// use network_server::broker::BrokerConfig;
///
/// let mut config = BrokerConfig::with_bind("127.0.0.1:1883".parse().unwrap());
/// config.max_connections = 100;
/// assert_eq!(config.bind_v4.port(), 1884);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// The MQTT 5 listener. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// The MQTT 3.1.1 listener. Port 0 picks a free port.
    pub bind_v4: SocketAddr,
    /// The largest PUBLISH payload accepted, in bytes; a client sending a bigger
    /// one is disconnected.
    pub max_payload_size: usize,
    /// The most clients connected at once, over both listeners.
    pub max_connections: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1883),
            bind_v4: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1884),
            max_payload_size: MAX_PAYLOAD_SIZE,
            max_connections: 10_000,
        }
    }
}

impl BrokerConfig {
    /// The default configuration with the MQTT 5 listener on `bind` and the
    /// MQTT 3.1.1 listener on the same IP address and the next port (`bind` port
    /// 1883 gives 1884), or on a free port if `bind`'s port is 0.
    pub fn with_bind(bind: SocketAddr) -> Self {
        let port_v4 = match bind.port() {
            0 => 0,
            port => port.wrapping_add(1),
        };
        Self {
            bind,
            bind_v4: SocketAddr::new(bind.ip(), port_v4),
            ..Self::default()
        }
    }
}

/// The embedded MQTT broker, running on its own threads.
///
/// Created with [`EmbeddedBroker::start`]; see the [module documentation](self)
/// for its two listeners and its lifetime (it cannot be stopped).
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    addr_v4: SocketAddr,
    _thread: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Starts the broker with [`BrokerConfig::with_bind`]: MQTT 5 on `bind`, MQTT
    /// 3.1.1 on the next port.
    ///
    /// Blocks until both listeners accept MQTT connections (normally a few
    /// milliseconds, at most 10 seconds); from async code this is a short
    /// blocking call.
    pub fn start(bind: SocketAddr) -> Result<Self, BrokerError> {
        Self::start_with(&BrokerConfig::with_bind(bind))
    }

    /// Starts the broker with `config`.
    ///
    /// rumqttd binds its listeners itself and cannot report the port it got, so
    /// each address is first bound here (which also turns "address in use" into
    /// a [`BrokerError::Bind`]), its actual port noted and the socket closed
    /// again before rumqttd binds it. In that short window another process can
    /// take the port: rumqttd then logs the bind error and this fails with
    /// [`BrokerError::NotReady`] after the startup timeout (10 s), unless the
    /// intruder is itself an MQTT broker, which the readiness check cannot tell
    /// apart.
    pub fn start_with(config: &BrokerConfig) -> Result<Self, BrokerError> {
        // Holding the first listener while binding the second keeps two port-0
        // requests from getting the same port, and makes one address given
        // twice an "address in use".
        let bind =
            |addr| TcpListener::bind(addr).map_err(|source| BrokerError::Bind { addr, source });
        let listener = bind(config.bind)?;
        let listener_v4 = bind(config.bind_v4)?;
        let local_addr = |listener: &TcpListener, addr| {
            listener
                .local_addr()
                .map_err(|source| BrokerError::Bind { addr, source })
        };
        let addr = local_addr(&listener, config.bind)?;
        let addr_v4 = local_addr(&listener_v4, config.bind_v4)?;
        drop((listener, listener_v4));

        let rumqttd_config = rumqttd_config(config, addr, addr_v4);
        let thread = thread::Builder::new()
            .name("mqtt-broker".to_owned())
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(rumqttd_config);
                // Returns only when every listener has failed (rumqttd has
                // already logged why); `start_with` sees the thread finish.
                if let Err(error) = broker.start() {
                    tracing::error!(%error, "embedded MQTT broker stopped");
                }
            })
            .map_err(BrokerError::Spawn)?;

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        for (listen, version) in [(addr, ProtocolVersion::V5), (addr_v4, ProtocolVersion::V4)] {
            await_listener(listen, version, &thread, deadline)?;
        }
        let tcp_nodelay = match nodelay::set_on_listeners(&[addr, addr_v4]) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "cannot turn Nagle's algorithm off on the embedded MQTT broker's \
                     sockets: small messages may wait up to 40 ms for the previous \
                     one's acknowledgement"
                );
                false
            }
        };
        tracing::info!(
            mqtt5 = %addr,
            mqtt311 = %addr_v4,
            tcp_nodelay,
            "embedded MQTT broker listening (no authentication)"
        );

        Ok(Self {
            addr,
            addr_v4,
            _thread: thread,
        })
    }

    /// The address of the MQTT 5 listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the MQTT 3.1.1 listener.
    pub fn addr_v4(&self) -> SocketAddr {
        self.addr_v4
    }
}

/// Why the embedded broker did not start. All are the operator's to fix: a port
/// in use, or an exhausted system.
#[derive(Debug)]
#[non_exhaustive]
pub enum BrokerError {
    /// A listen address cannot be bound (in use, or not an address of this host).
    Bind {
        /// The address as configured.
        addr: SocketAddr,
        /// The error from the operating system.
        source: io::Error,
    },
    /// The broker's thread could not be started.
    Spawn(io::Error),
    /// A listener did not accept an MQTT connection in time; rumqttd's `error`
    /// logs (target [`LOG_TARGET`]) say why.
    NotReady {
        /// The listener's address.
        addr: SocketAddr,
        /// What the last attempt to connect to it saw.
        reason: String,
    },
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind { addr, source } => {
                write!(
                    f,
                    "cannot bind the embedded MQTT broker to {addr}: {source}"
                )
            }
            Self::Spawn(source) => {
                write!(
                    f,
                    "cannot start the embedded MQTT broker's thread: {source}"
                )
            }
            Self::NotReady { addr, reason } => write!(
                f,
                "the embedded MQTT broker does not serve MQTT on {addr}: {reason}"
            ),
        }
    }
}

impl std::error::Error for BrokerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind { source, .. } | Self::Spawn(source) => Some(source),
            Self::NotReady { .. } => None,
        }
    }
}

fn rumqttd_config(config: &BrokerConfig, addr: SocketAddr, addr_v4: SocketAddr) -> Config {
    // rumqttd keeps one in-memory log per subscription filter, holding up to
    // segment size x segment count bytes of the latest messages even after every
    // subscriber has read them; a subscriber that falls further behind skips
    // ahead. Filters are never removed, so the default is small (one filter per
    // gateway's command topic adds up), and only the high-volume filters get
    // room for a few seconds of ~30k msg/s.
    let high_volume = SegmentConfig {
        max_segment_size: 8 * 1024 * 1024,
        max_segment_count: 8,
    };
    let custom_segment = ["+/gateway/+/event/#", "application/#"]
        .into_iter()
        .map(|filter| (filter.to_owned(), high_volume.clone()))
        .collect();

    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: config.max_payload_size.saturating_add(PACKET_OVERHEAD),
        // Packets read from a client's socket in one batch for the router.
        max_inflight_count: 500,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = |name: &str, listen| ServerSettings {
        name: name.to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: connections.clone(),
    };

    Config {
        id: 0,
        router: RouterConfig {
            max_connections: config.max_connections,
            // QoS 0 messages moved to a connection per router iteration (rumqttd
            // caps its per-connection queue at 200).
            max_outgoing_packet_count: 200,
            max_segment_size: 256 * 1024,
            max_segment_count: 4,
            custom_segment: Some(custom_segment),
            initialized_filters: None,
            shared_subscriptions_strategy: Strategy::RoundRobin,
        },
        v4: Some(HashMap::from([(
            "v4".to_owned(),
            server("mqtt311", addr_v4),
        )])),
        v5: Some(HashMap::from([("v5".to_owned(), server("mqtt5", addr))])),
        ..Config::default()
    }
}

/// `TCP_NODELAY` on the broker's connections, which rumqttd has no setting for.
///
/// With Nagle's algorithm on, a small QoS 0 message written while the previous
/// one is unacknowledged waits for that acknowledgement, and a subscriber with
/// nothing to send back delays it (up to 40 ms on Linux): at 2 000 uplinks/s the
/// embedded broker alone took the end-to-end p99 from 203 to 230 ms
/// (docs/benchmarks.md). Linux gives an accepted socket the `TCP_NODELAY` of its
/// listener, so setting it on rumqttd's two listening sockets, found among the
/// process's descriptors by their address, covers every later connection.
#[cfg(target_os = "linux")]
mod nodelay {
    use std::io;
    use std::net::SocketAddr;
    use std::os::fd::OwnedFd;

    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};

    /// Sets `TCP_NODELAY` on the TCP sockets of this process bound to one of
    /// `addrs`: listening sockets, and connections already accepted on them. An
    /// error if some address has no listening socket.
    pub(super) fn set_on_listeners(addrs: &[SocketAddr]) -> io::Result<()> {
        let mut listening = Vec::new();
        for_each_socket(|socket| {
            let bound = socket.local_addr().ok().and_then(|a| a.as_socket());
            let Some(bound) = bound.filter(|a| addrs.contains(a)) else {
                return Ok(());
            };
            if socket.r#type()? != socket2::Type::STREAM {
                return Ok(());
            }
            socket.set_tcp_nodelay(true)?;
            // A connection has a peer; a listener has none.
            if socket.peer_addr().is_err() {
                listening.push(bound);
            }
            Ok(())
        })?;
        match addrs.iter().find(|a| !listening.contains(a)) {
            None => Ok(()),
            Some(addr) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no listening socket on {addr} among the process's descriptors"),
            )),
        }
    }

    /// Calls `f` with each open socket of this process.
    ///
    /// A descriptor is known here only by its number (`/proc/self/fd`), and a
    /// number is no proof that the descriptor stays open: `pidfd_getfd` makes a
    /// duplicate of our own, closed again after `f`, which leaves the socket to
    /// its owner. A descriptor closed meanwhile is skipped.
    pub(super) fn for_each_socket(
        mut f: impl FnMut(socket2::SockRef<'_>) -> io::Result<()>,
    ) -> io::Result<()> {
        let process = pidfd_open(getpid(), PidfdFlags::empty())?;
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let entry = entry?;
            let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // A socket's link reads `socket:[inode]`.
            let is_socket = std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            if !is_socket {
                continue;
            }
            let fd: OwnedFd = match pidfd_getfd(&process, number, PidfdGetfdFlags::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::BADF) => continue,
                Err(error) => return Err(error.into()),
            };
            f(socket2::SockRef::from(&fd))?;
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod nodelay {
    use std::io;
    use std::net::SocketAddr;

    pub(super) fn set_on_listeners(_: &[SocketAddr]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "accepted sockets inherit TCP_NODELAY from their listener on Linux only",
        ))
    }
}

#[derive(Debug, Clone, Copy)]
enum ProtocolVersion {
    V4,
    V5,
}

/// Waits until `addr` answers an MQTT CONNECT with a successful CONNACK.
///
/// A bare TCP connect would do for "is it listening", but rumqttd logs a client
/// that closes before sending CONNECT as an error; a clean MQTT session does not
/// alarm anyone.
fn await_listener(
    addr: SocketAddr,
    version: ProtocolVersion,
    thread: &JoinHandle<()>,
    deadline: Instant,
) -> Result<(), BrokerError> {
    let target = SocketAddr::new(connectable(addr.ip()), addr.port());
    loop {
        let reason = match handshake(target, version) {
            Ok(()) => return Ok(()),
            Err(error) => error.to_string(),
        };
        if thread.is_finished() || Instant::now() >= deadline {
            return Err(BrokerError::NotReady { addr, reason });
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The address to connect to for a listener bound to `ip`.
fn connectable(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// CONNECT, expect a successful CONNACK, close.
fn handshake(addr: SocketAddr, version: ProtocolVersion) -> io::Result<()> {
    // A fresh client ID per attempt: rumqttd mishandles a client ID whose
    // previous connection is still being torn down (the new connection fails,
    // or its task panics on a stale last-will channel).
    static ATTEMPT: AtomicU32 = AtomicU32::new(0);
    let client_id = format!(
        "network-server-embedded-broker-probe-{}-{}",
        std::process::id(),
        ATTEMPT.fetch_add(1, Ordering::Relaxed)
    );
    let client_id = client_id.as_bytes();
    let timeout = Duration::from_millis(500);

    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;

    let (level, properties): (u8, &[u8]) = match version {
        ProtocolVersion::V4 => (4, &[]),
        // MQTT 5: an empty property list.
        ProtocolVersion::V5 => (5, &[0]),
    };
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', level];
    // Clean session; keep-alive 10 s (rumqttd refuses 0).
    body.extend_from_slice(&[0x02, 0, 10]);
    body.extend_from_slice(properties);
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id);
    // Shorter than 128 bytes: a one-byte remaining length.
    let mut connect = vec![0x10, body.len() as u8];
    connect.extend_from_slice(&body);
    stream.write_all(&connect)?;

    let mut header = [0; 2];
    stream.read_exact(&mut header)?;
    if header[0] != 0x20 || header[1] < 2 || header[1] > 127 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected a CONNACK, got a packet starting {header:02x?}"),
        ));
    }
    let mut connack = vec![0; usize::from(header[1])];
    stream.read_exact(&mut connack)?;
    if connack[1] != 0 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("CONNACK return code {:#04x}", connack[1]),
        ));
    }

    // Closing without a DISCONNECT is deliberate: rumqttd handles a DISCONNECT
    // and then the closed socket as two disconnections, logs the second as an
    // error and, if the connection's slot was reused in between, drops the new
    // connection (the next probe or a real client) with it.
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Whether the broker's end of the connection from `client` has
    /// `TCP_NODELAY`, once rumqttd has accepted it.
    fn accepted_nodelay(broker: SocketAddr, client: SocketAddr) -> bool {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let mut found = None;
            nodelay::for_each_socket(|socket| {
                let local = socket.local_addr()?.as_socket();
                let peer = socket.peer_addr().ok().and_then(|a| a.as_socket());
                if local == Some(broker) && peer == Some(client) {
                    found = Some(socket.tcp_nodelay()?);
                }
                Ok(())
            })
            .unwrap();
            if let Some(nodelay) = found {
                return nodelay;
            }
            assert!(Instant::now() < deadline, "rumqttd never accepted {client}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn connections_to_the_broker_have_tcp_nodelay() {
        let broker = EmbeddedBroker::start("127.0.0.1:0".parse().unwrap()).unwrap();
        for addr in [broker.addr(), broker.addr_v4()] {
            let client = TcpStream::connect(addr).unwrap();
            // The client's own end is left as the system made it.
            assert!(!client.nodelay().unwrap());
            assert!(
                accepted_nodelay(addr, client.local_addr().unwrap()),
                "{addr}: the broker's end of the connection keeps Nagle's algorithm"
            );
        }
    }

    #[test]
    fn nodelay_needs_a_listener_on_each_address() {
        let unused = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = unused.local_addr().unwrap();
        drop(unused);
        let error = nodelay::set_on_listeners(&[addr]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound, "{error}");
    }
}
