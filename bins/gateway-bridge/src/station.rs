//! The LoRa Basics Station backend: an HTTP/websocket listener (plain, or
//! TLS with optional client certificates) serving `/router-info` discovery
//! and one `/gateway/{eui}` websocket per station.
//!
//! Each station connection is a task that owns a sans-IO
//! [`Session`](packet_forwarder::basic_station::Session): it feeds the
//! session with the station's frames and the clock, sends what the session
//! queues, pings the station every `ping_interval` and closes a connection
//! silent for `read_timeout`. What the session reports goes to the driver
//! loop as [`StationEvent`]s; the driver sends downlinks and raw commands
//! back as [`StationCommand`]s over the connection's own channel.
//!
//! With `ca_cert` set, a station must present a client certificate signed by
//! one of those CAs whose Common Name is its EUI (any spelling
//! [`parse_eui`] reads: `0102030405060708`, `01-02-…`, `102:304:…`); a
//! mismatch is answered 403 before the websocket upgrade.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use lorawan::Eui64;
use lorawan::modulation::Modulation;
use lorawan::region::{Channel, RegionParams, Revision};
use packet_forwarder::basic_station::{
    self, RouterConfig, RouterConfigOptions, RouterInfoRequest, RouterInfoResponse, Session,
    SessionConfig, Transmit, parse_eui,
};
use packet_forwarder::gw;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::config;

/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `/router-info` waits for the station's request.
const ROUTER_INFO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest websocket message accepted from a station. Station messages
/// are a few hundred bytes; raw (remote-shell) frames stay far below this.
const MAX_MESSAGE: usize = 256 * 1024;
/// How long after a `dnmsg` a missing `dntxed` counts as a failure: RX2 of
/// the longest RxDelay (15 s + 1 s) plus the station's scheduling margin.
const ACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Commands queued per station before the driver reports them as failed.
const COMMAND_QUEUE: usize = 64;

/// What a station connection tells the driver.
#[derive(Debug)]
pub(crate) enum StationEvent {
    /// A station connected (its earlier connection, if any, is to be
    /// closed by dropping that connection's command sender).
    Connected {
        gateway: Eui64,
        conn: u64,
        commands: mpsc::Sender<StationCommand>,
    },
    /// The connection `conn` of a station ended.
    Disconnected { gateway: Eui64, conn: u64 },
    /// An uplink.
    Uplink(Eui64, Box<gw::UplinkFrame>),
    /// Periodic statistics.
    Stats(Eui64, Box<gw::GatewayStats>),
    /// A downlink's outcome.
    TxAck(Eui64, gw::DownlinkTxAck),
    /// A message the backend passes through (`event/raw`).
    Raw(Eui64, gw::RawPacketForwarderEvent),
    /// A station message that could not be used.
    Rejected {
        gateway: Eui64,
        error: basic_station::Error,
    },
    /// A connection refused before the websocket upgrade or during
    /// `/router-info`.
    Refused(Refusal),
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The TLS handshake failed (including a missing or unknown client
    /// certificate).
    Tls,
    /// The client certificate's Common Name is not the station's EUI.
    CommonName,
    /// The URL or the `/router-info` request named no valid EUI.
    BadRequest,
}

/// What the driver sends to a station connection.
#[derive(Debug)]
pub(crate) enum StationCommand {
    /// A `gw.DownlinkFrame` to send as `dnmsg`.
    Down(Box<gw::DownlinkFrame>),
    /// A `gw.RawPacketForwarderCommand` to send as is.
    Raw(gw::RawPacketForwarderCommand),
}

/// The bound listener, ready to [`serve`](StationListener::serve).
pub(crate) struct StationListener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    client_auth: bool,
    shared: Shared,
}

/// What every connection needs.
#[derive(Debug, Clone)]
struct Shared {
    session: SessionConfig,
    ping_interval: Duration,
    read_timeout: Duration,
    write_timeout: Duration,
    /// `/router-info` answers `wss://` (TLS here or at a proxy).
    wss: bool,
    /// A client certificate whose CN is the EUI is required.
    client_auth: bool,
    events: mpsc::Sender<StationEvent>,
    next_conn: Arc<AtomicU64>,
}

/// Who is at the other end of an HTTP connection.
#[derive(Debug, Clone)]
struct Peer {
    addr: SocketAddr,
    /// The Common Name of the verified client certificate.
    common_name: Option<String>,
}

impl std::fmt::Debug for StationListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationListener")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl StationListener {
    /// Binds `bind` and loads the TLS files. `events` receives what the
    /// connections report.
    pub(crate) async fn bind(
        config: &config::BasicStation,
        options: RouterConfigOptions,
        events: mpsc::Sender<StationEvent>,
    ) -> anyhow::Result<Self> {
        let session = session_config(config, options)?;
        let tls = if config.tls_cert.is_empty() {
            None
        } else {
            Some(tls_acceptor(config)?)
        };
        let bind = config.bind_addr();
        let listener = TcpListener::bind(&bind)
            .await
            .with_context(|| format!("cannot bind the Basics Station listener to {bind}"))?;
        let local_addr = listener.local_addr()?;
        let client_auth = !config.ca_cert.is_empty();
        Ok(Self {
            listener,
            local_addr,
            tls,
            client_auth,
            shared: Shared {
                session,
                ping_interval: config.ping_interval,
                read_timeout: config.read_timeout,
                write_timeout: config.write_timeout,
                wss: !config.tls_cert.is_empty() || config.tls_support_proxy,
                client_auth,
                events,
                next_conn: Arc::new(AtomicU64::new(1)),
            },
        })
    }

    /// The bound address (useful with port 0).
    pub(crate) const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Accepts connections until the task is aborted.
    pub(crate) async fn serve(self) {
        info!(
            basic_station = %self.local_addr,
            tls = self.tls.is_some(),
            client_certificates = self.client_auth,
            "Basics Station listener started"
        );
        let router = Router::new()
            .route("/router-info", get(router_info))
            .route("/gateway/{eui}", get(station))
            .with_state(self.shared.clone());
        loop {
            let (tcp, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    warn!(error = %e, "Basics Station accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let router = router.clone();
            let tls = self.tls.clone();
            let events = self.shared.events.clone();
            tokio::spawn(async move {
                match tls {
                    None => {
                        let peer = Peer {
                            addr,
                            common_name: None,
                        };
                        serve_http(tcp, peer, router).await;
                    }
                    Some(acceptor) => {
                        let Some((stream, peer)) = handshake(&acceptor, tcp, addr).await else {
                            let _ = events.send(StationEvent::Refused(Refusal::Tls)).await;
                            return;
                        };
                        serve_http(stream, peer, router).await;
                    }
                }
            });
        }
    }
}

async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    addr: SocketAddr,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Peer)> {
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            warn!(%addr, error = %e, "Basics Station TLS handshake failed");
            return None;
        }
        Err(_) => {
            warn!(%addr, "Basics Station TLS handshake timed out");
            return None;
        }
    };
    let common_name = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|cert| common_name(cert));
    Some((stream, Peer { addr, common_name }))
}

/// Serves HTTP/1.1 (with websocket upgrades) on one connection.
async fn serve_http<S>(stream: S, peer: Peer, router: Router)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let addr = peer.addr;
    let service = TowerToHyperService::new(router.layer(Extension(peer)));
    let result = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = result {
        debug!(%addr, error = %e, "Basics Station HTTP connection ended");
    }
}

/// `/router-info`: one request, one answer, then close.
async fn router_info(
    ws: WebSocketUpgrade,
    headers: HeaderMap,
    Extension(peer): Extension<Peer>,
    State(shared): State<Shared>,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| answer_router_info(socket, host, peer, shared))
}

async fn answer_router_info(
    mut socket: WebSocket,
    host: Option<String>,
    peer: Peer,
    shared: Shared,
) {
    let request = match tokio::time::timeout(ROUTER_INFO_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => RouterInfoRequest::parse(text.as_bytes()),
        Ok(Some(Ok(Message::Binary(data)))) => RouterInfoRequest::parse(&data),
        _ => {
            debug!(addr = %peer.addr, "router-info: no request");
            return;
        }
    };
    let response = match request {
        Err(e) => {
            warn!(addr = %peer.addr, error = %e, "router-info request rejected");
            let _ = shared
                .events
                .send(StationEvent::Refused(Refusal::BadRequest))
                .await;
            // The station logs the error; it has no router id to echo.
            serde_json::json!({ "error": e.to_string() }).to_string()
        }
        Ok(RouterInfoRequest { router }) => {
            if shared.client_auth && !common_name_is(peer.common_name.as_deref(), router) {
                warn!(addr = %peer.addr, gateway_id = %router, common_name = ?peer.common_name, "router-info: certificate is not the station's");
                let _ = shared
                    .events
                    .send(StationEvent::Refused(Refusal::CommonName))
                    .await;
                RouterInfoResponse::error(router, "client certificate does not match the router id")
                    .to_json()
            } else {
                let scheme = if shared.wss { "wss" } else { "ws" };
                let host = host.unwrap_or_else(|| peer.addr.to_string());
                let uri = format!("{scheme}://{host}/gateway/{router}");
                debug!(gateway_id = %router, uri, "router-info");
                RouterInfoResponse::ok(router, Eui64::from_u64(0), uri).to_json()
            }
        }
    };
    let _ = socket.send(Message::text(response)).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// `/gateway/{eui}`: the station's connection.
async fn station(
    ws: WebSocketUpgrade,
    UrlPath(eui): UrlPath<String>,
    Extension(peer): Extension<Peer>,
    State(shared): State<Shared>,
) -> Response {
    let Some(gateway) = parse_eui(&eui) else {
        let _ = shared
            .events
            .send(StationEvent::Refused(Refusal::BadRequest))
            .await;
        return (StatusCode::BAD_REQUEST, "not a gateway EUI\n").into_response();
    };
    if shared.client_auth && !common_name_is(peer.common_name.as_deref(), gateway) {
        warn!(addr = %peer.addr, gateway_id = %gateway, common_name = ?peer.common_name, "station refused: certificate is not the station's");
        let _ = shared
            .events
            .send(StationEvent::Refused(Refusal::CommonName))
            .await;
        return (
            StatusCode::FORBIDDEN,
            "the client certificate's Common Name is not this gateway's EUI\n",
        )
            .into_response();
    }
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| run_station(socket, gateway, peer.addr, shared))
}

fn common_name_is(common_name: Option<&str>, eui: Eui64) -> bool {
    common_name.and_then(parse_eui) == Some(eui)
}

/// Why a station connection ended.
#[derive(Debug)]
enum End {
    Closed,
    ReadTimeout,
    Replaced,
    Error(String),
}

async fn run_station(mut socket: WebSocket, gateway: Eui64, addr: SocketAddr, shared: Shared) {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let (commands, mut command_rx) = mpsc::channel(COMMAND_QUEUE);
    let connected = StationEvent::Connected {
        gateway,
        conn,
        commands,
    };
    if shared.events.send(connected).await.is_err() {
        return;
    }
    info!(gateway_id = %gateway, %addr, conn, "station connected");
    let mut session = Session::new(gateway, shared.session.clone(), Instant::now());
    session.set_next_uplink_id(rand::random());
    let mut ping = tokio::time::interval(shared.ping_interval.max(Duration::from_millis(100)));
    ping.tick().await;
    let mut last_read = Instant::now();
    let end = loop {
        let read_deadline = last_read + shared.read_timeout;
        let session_deadline = session.poll_timeout();
        tokio::select! {
            message = socket.recv() => {
                last_read = Instant::now();
                let result = match message {
                    Some(Ok(Message::Text(text))) => {
                        session.handle_text(last_read, unix_now(), text.as_bytes())
                    }
                    Some(Ok(Message::Binary(data))) => {
                        session.handle_binary(last_read, &data);
                        Ok(())
                    }
                    // Pings are answered by the websocket layer; both count
                    // as signs of life.
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | None => break End::Closed,
                    Some(Err(e)) => break End::Error(e.to_string()),
                };
                if let Err(error) = result {
                    debug!(gateway_id = %gateway, error = %error, "station message rejected");
                    if shared.events.send(StationEvent::Rejected { gateway, error }).await.is_err() {
                        break End::Replaced;
                    }
                }
            }
            command = command_rx.recv() => match command {
                Some(StationCommand::Down(frame)) => {
                    if let Err(error) = session.send_downlink(Instant::now(), unix_now(), &frame) {
                        warn!(gateway_id = %gateway, downlink_id = frame.downlink_id, error = %error, "downlink cannot be sent to the station");
                        let ack = failed_ack(&frame);
                        if shared.events.send(StationEvent::TxAck(gateway, ack)).await.is_err() {
                            break End::Replaced;
                        }
                    }
                }
                Some(StationCommand::Raw(raw)) => session.send_raw(&raw),
                // The driver dropped the sender: a newer connection of this
                // station, or shutdown.
                None => break End::Replaced,
            },
            () = sleep_until(session_deadline), if session_deadline.is_some() => {
                session.handle_timeout(Instant::now(), unix_now());
            }
            _ = ping.tick() => {
                if let Err(e) = send(&mut socket, Message::Ping(Default::default()), shared.write_timeout).await {
                    break End::Error(e);
                }
            }
            () = sleep_until(Some(read_deadline)) => break End::ReadTimeout,
        }
        if let Err(e) = flush(&mut socket, &mut session, &shared).await {
            break e;
        }
    };
    // Deliver what the last message produced (e.g. a final dntxed).
    let _ = flush(&mut socket, &mut session, &shared).await;
    match &end {
        End::Closed => info!(gateway_id = %gateway, conn, "station disconnected"),
        End::Replaced => {
            info!(gateway_id = %gateway, conn, "station connection closed (replaced or shutting down)")
        }
        End::ReadTimeout => {
            warn!(gateway_id = %gateway, conn, timeout = ?shared.read_timeout, "station silent, connection closed")
        }
        End::Error(e) => {
            warn!(gateway_id = %gateway, conn, error = %e, "station connection failed")
        }
    }
    if !matches!(end, End::Closed | End::Error(_)) {
        let close = Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        }));
        let _ = send(&mut socket, close, shared.write_timeout).await;
    }
    let _ = shared
        .events
        .send(StationEvent::Disconnected { gateway, conn })
        .await;
}

/// Sends what the session queued and hands its events to the driver.
async fn flush(socket: &mut WebSocket, session: &mut Session, shared: &Shared) -> Result<(), End> {
    while let Some(transmit) = session.poll_transmit() {
        let message = match transmit {
            Transmit::Text(text) => Message::text(text),
            Transmit::Binary(data) => Message::binary(data),
        };
        send(socket, message, shared.write_timeout)
            .await
            .map_err(End::Error)?;
    }
    let gateway = session.gateway_id();
    while let Some(event) = session.poll_event() {
        let event = match event {
            basic_station::Event::Version(v) => {
                info!(gateway_id = %gateway, station = v.station, firmware = v.firmware, model = v.model, protocol = v.protocol, "station version");
                continue;
            }
            basic_station::Event::Uplink(frame) => StationEvent::Uplink(gateway, frame),
            basic_station::Event::TxAck(ack) => StationEvent::TxAck(gateway, ack),
            basic_station::Event::Stats(stats) => StationEvent::Stats(gateway, stats),
            basic_station::Event::Raw(raw) => StationEvent::Raw(gateway, raw),
            other => {
                debug!(gateway_id = %gateway, event = ?other, "unhandled station event");
                continue;
            }
        };
        shared.events.send(event).await.map_err(|_| End::Replaced)?;
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, message: Message, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("send took longer than write_timeout ({timeout:?})")),
    }
}

/// The ack of a downlink the session could not turn into a `dnmsg`.
pub(crate) fn failed_ack(frame: &gw::DownlinkFrame) -> gw::DownlinkTxAck {
    gw::tx_ack(
        frame.gateway_id.clone(),
        frame.downlink_id,
        frame.items.len(),
        &[gw::TxAckStatus::InternalError],
    )
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The session settings from `[backend.basic_station]`.
fn session_config(
    config: &config::BasicStation,
    options: RouterConfigOptions,
) -> anyhow::Result<SessionConfig> {
    let region = config.region().map_err(anyhow::Error::msg)?;
    let params = lorawan::region::params(region, Revision::LATEST);
    let mut concentrators = Vec::new();
    for (i, c) in config.concentrators.iter().enumerate() {
        concentrators.push(
            concentrator_channels(params, c)
                .with_context(|| format!("backend.basic_station.concentrators[{i}]"))?,
        );
    }
    if concentrators.is_empty() {
        concentrators.push(default_channels(params));
    }
    let mut router_config = RouterConfig::with_channels(params, &concentrators[0], &options)
        .context("backend.basic_station: the channels do not fit one SX1301")?;
    for (i, channels) in concentrators.iter().enumerate().skip(1) {
        router_config
            .sx1301_conf
            .push(basic_station::sx1301_conf(params, channels).with_context(
            || {
                format!(
                    "backend.basic_station.concentrators[{i}]: the channels do not fit one SX1301"
                )
            },
        )?);
    }
    router_config.hwspec = format!("sx1301/{}", concentrators.len());
    router_config.freq_range = [config.frequency_min, config.frequency_max];
    Ok(SessionConfig {
        params,
        router_config,
        ack_timeout: ACK_TIMEOUT,
        stats_interval: (!config.stats_interval.is_zero()).then_some(config.stats_interval),
        timesync_interval: (!config.timesync_interval.is_zero())
            .then_some(config.timesync_interval),
    })
}

/// Without `[[concentrators]]`: the region's default channels (dynamic
/// plans), or the first sub-band, channels 0–7 and 64 (fixed plans, as
/// ChirpStack's `us915_0`).
fn default_channels(params: &RegionParams) -> Vec<Channel> {
    let indices: Vec<usize> = if params.region.has_fixed_channel_plan() {
        (0..8).chain([64]).collect()
    } else {
        (0..params.uplink_channel_count()).collect()
    };
    indices
        .into_iter()
        .filter_map(|i| params.uplink_channel(i))
        .collect()
}

/// The uplink channels of one `[[concentrators]]` entry.
fn concentrator_channels(
    params: &RegionParams,
    c: &config::Concentrator,
) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    if !c.multi_sf.frequencies.is_empty() {
        // The multi-SF demodulators cover the region's 125 kHz LoRa rates.
        let drs: Vec<u8> = (0..=15u8)
            .filter(|&dr| {
                params.data_rate(dr).is_some_and(|d| {
                    d.uplink
                        && matches!(
                            d.modulation,
                            Modulation::Lora {
                                bandwidth: 125_000,
                                ..
                            }
                        )
                })
            })
            .collect();
        let (Some(&min_dr), Some(&max_dr)) = (drs.iter().min(), drs.iter().max()) else {
            bail!("the region has no 125 kHz LoRa data rate for multi_sf channels");
        };
        channels.extend(c.multi_sf.frequencies.iter().map(|&frequency| Channel {
            frequency,
            min_dr,
            max_dr,
        }));
    }
    if c.lora_std.frequency != 0 {
        let modulation = Modulation::Lora {
            spreading_factor: c.lora_std.spreading_factor,
            bandwidth: c.lora_std.bandwidth,
        };
        let dr = params.data_rate_index(&modulation, true).with_context(|| {
            format!("lora_std: the region has no uplink data rate {modulation}")
        })?;
        channels.push(Channel {
            frequency: c.lora_std.frequency,
            min_dr: dr,
            max_dr: dr,
        });
    }
    if c.fsk.frequency != 0 {
        let dr = (0..=15u8)
            .find(|&dr| {
                params
                    .data_rate(dr)
                    .is_some_and(|d| d.uplink && matches!(d.modulation, Modulation::Fsk { .. }))
            })
            .context("fsk: the region has no FSK data rate")?;
        channels.push(Channel {
            frequency: c.fsk.frequency,
            min_dr: dr,
            max_dr: dr,
        });
    }
    Ok(channels)
}

/// The server's TLS setup: its certificate, and client verification when
/// `ca_cert` is set.
fn tls_acceptor(config: &config::BasicStation) -> anyhow::Result<TlsAcceptor> {
    let provider = tls_files::provider();
    let certs = tls_files::certificates("backend.basic_station.tls_cert", &config.tls_cert)?;
    let key = tls_files::private_key("backend.basic_station.tls_key", &config.tls_key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if config.ca_cert.is_empty() {
        builder.with_no_client_auth()
    } else {
        let roots = tls_files::root_store("backend.basic_station.ca_cert", &config.ca_cert)?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .context("backend.basic_station.ca_cert")?;
        builder.with_client_cert_verifier(verifier)
    };
    let server = builder
        .with_single_cert(certs, key)
        .context("backend.basic_station: tls_cert and tls_key do not match")?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The subject's Common Name of a DER certificate.
fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_cert::der::Decode as _;
    use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
    const CN: x509_cert::der::oid::ObjectIdentifier =
        x509_cert::der::oid::ObjectIdentifier::new_unwrap("2.5.4.3");
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let subject = &cert.tbs_certificate.subject;
    subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == CN)
        .find_map(|atv| {
            let value = &atv.value;
            value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.to_string())
                .or_else(|_| {
                    value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.to_string())
                })
                .or_else(|_| value.decode_as::<Ia5StringRef<'_>>().map(|s| s.to_string()))
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_is_read_from_a_certificate() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "0102030405060708");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = CertificateDer::from(cert.der().to_vec());
        assert_eq!(common_name(&der).as_deref(), Some("0102030405060708"));
        assert!(common_name_is(
            Some("01-02-03-04-05-06-07-08"),
            Eui64::from_u64(0x0102_0304_0506_0708)
        ));
        assert!(!common_name_is(
            Some("0102030405060709"),
            Eui64::from_u64(0x0102_0304_0506_0708)
        ));
        assert!(!common_name_is(None, Eui64::from_u64(1)));
        assert_eq!(
            common_name(&CertificateDer::from(vec![0x30, 0x03, 1, 2])),
            None
        );
    }

    #[test]
    fn channels_come_from_the_concentrators_or_the_region() {
        let eu = lorawan::region::params(lorawan::region::Region::Eu868, Revision::LATEST);
        let mut c = config::Concentrator::default();
        c.multi_sf.frequencies = vec![868_100_000, 868_300_000];
        c.lora_std.frequency = 868_300_000;
        c.lora_std.bandwidth = 250_000;
        c.lora_std.spreading_factor = 7;
        c.fsk.frequency = 868_800_000;
        let channels = concentrator_channels(eu, &c).unwrap();
        assert_eq!(
            channels,
            [
                Channel {
                    frequency: 868_100_000,
                    min_dr: 0,
                    max_dr: 5
                },
                Channel {
                    frequency: 868_300_000,
                    min_dr: 0,
                    max_dr: 5
                },
                Channel {
                    frequency: 868_300_000,
                    min_dr: 6,
                    max_dr: 6
                },
                Channel {
                    frequency: 868_800_000,
                    min_dr: 7,
                    max_dr: 7
                },
            ]
        );
        c.lora_std.spreading_factor = 9;
        assert!(concentrator_channels(eu, &c).is_err());
        assert_eq!(default_channels(eu).len(), 3);
        let us = lorawan::region::params(lorawan::region::Region::Us915, Revision::LATEST);
        let us_channels = default_channels(us);
        assert_eq!(us_channels.len(), 9);
        assert_eq!(us_channels[0].frequency, 902_300_000);
        assert_eq!(us_channels[8].frequency, 903_000_000);
    }
}
