//! A running simulation: devices ([`Device`]) on a shared air
//! ([`radio`](crate::radio)), heard by gateways that speak Semtech UDP,
//! MQTT or Basics Station to a network server ([`gateway`]), for a bounded
//! time, in real time.
//!
//! Each device is a task: it joins (retrying until accepted), then sends
//! uplinks at its interval with ±10 % jitter, and listens in its RX1 and
//! RX2 windows (class C: also between uplinks) for what the gateways put on
//! the air. Each gateway is a task with its own connection to the server
//! (see [`gateway`]): it forwards what it hears, stamped
//! with its concentrator counter, and transmits the server's downlinks at
//! their time, acknowledging them in its protocol. A downlink reaches a
//! device if it starts in one of its open windows, on the window's
//! frequency and data rate, and the link budget allows it.
//!
//! [`run`] returns a [`Report`]: what was sent, joined and acknowledged,
//! and every uplink with its payload and time, to be matched against the
//! application's events.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lorawan::Eui64;
use lorawan::modulation::Modulation;
use lorawan::region::RegionParams;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use lorawan::mac::MacCommand;

use crate::device::{Device, DeviceError, DeviceState, Received, Transmission, TxKind};
use crate::events::Delivery;
use crate::gateway::{self, Concentrator, GatewayCounters, GatewayKind, GatewayMqtt, Heard};
use crate::radio::{Position, RadioModel, WINDOW_TOLERANCE, standard_normal};

/// A device of the simulation.
#[derive(Debug)]
pub struct SimDevice {
    /// The device itself.
    pub device: Device,
    /// Where it is.
    pub position: Position,
    /// The time between two uplinks (±10 % jitter).
    pub uplink_interval: Duration,
    /// The FPort of its uplinks.
    pub f_port: u8,
    /// Its uplink payloads, sent in turn (a script of bytes); empty: the
    /// uplink's sequence number (4 bytes, big-endian), so that each
    /// application event names its uplink.
    pub payloads: Vec<Vec<u8>>,
    /// Every how many uplinks one is confirmed (0: none).
    pub confirmed_every: u32,
    /// Every how many uplinks one asks the network for LinkCheckReq and
    /// DeviceTimeReq (0: never).
    pub mac_requests_every: u32,
}

/// A gateway of the simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimGateway {
    /// Its EUI.
    pub gateway_id: Eui64,
    /// Where it is.
    pub position: Position,
    /// How it talks to the server.
    pub kind: GatewayKind,
}

impl SimGateway {
    /// A Semtech UDP gateway.
    pub fn new(gateway_id: Eui64, position: Position) -> Self {
        Self {
            gateway_id,
            position,
            kind: GatewayKind::SemtechUdp,
        }
    }
}

/// How the simulation runs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Settings {
    /// The network server's (or gateway bridge's) Semtech UDP address, for
    /// [`GatewayKind::SemtechUdp`] gateways.
    pub udp_server: SocketAddr,
    /// The gateway MQTT broker of the network server, for
    /// [`GatewayKind::Mqtt`] gateways.
    pub gateway_mqtt: Option<GatewayMqtt>,
    /// The LNS websocket URL for [`GatewayKind::BasicsStation`] gateways
    /// (a gateway bridge's Basics Station listener), e.g.
    /// `ws://127.0.0.1:3001`; empty when none.
    pub station_server: String,
    /// How long devices send (joins included).
    pub duration: Duration,
    /// The radio environment.
    pub radio: RadioModel,
    /// How often gateways send PULL_DATA (MQTT: their stats).
    pub keepalive: Duration,
    /// The wait before a join-request is repeated (±20 % jitter, doubled
    /// on each failure up to eight times).
    pub join_retry: Duration,
    /// Devices start at random within this time.
    pub start_spread: Duration,
    /// The seed of every random choice.
    pub seed: u64,
}

impl Settings {
    /// Settings for a simulation against `udp_server` lasting `duration`.
    pub fn new(udp_server: SocketAddr, duration: Duration) -> Self {
        Self {
            udp_server,
            gateway_mqtt: None,
            station_server: String::new(),
            duration,
            radio: RadioModel::default(),
            keepalive: Duration::from_secs(5),
            join_retry: Duration::from_secs(8),
            start_spread: Duration::from_secs(5),
            seed: 1,
        }
    }
}

/// An uplink a device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentUplink {
    /// The device.
    pub dev_eui: Eui64,
    /// Its frame counter.
    pub f_cnt: u32,
    /// The application payload.
    pub payload: Vec<u8>,
    /// Whether it was confirmed.
    pub confirmed: bool,
    /// Whether the network acknowledged it (confirmed only).
    pub acked: bool,
    /// When it was sent.
    pub at: Instant,
}

/// What a simulation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Devices simulated.
    pub devices: usize,
    /// Join-requests sent.
    pub join_requests: u64,
    /// Devices that joined (ABP devices count as joined).
    pub joined: usize,
    /// Repeated transmissions of data uplinks (NbTrans).
    pub repetitions: u64,
    /// Transmissions heard by at least one gateway.
    pub uplinks_heard: u64,
    /// Transmissions no gateway heard.
    pub uplinks_lost: u64,
    /// Downlinks received by devices (join-accepts included).
    pub downlinks_received: u64,
    /// Frames put on the air by gateways that no device took (out of
    /// window, another device's, or too weak).
    pub downlinks_unreceived: u64,
    /// Downlinks a device refused (MIC, replay, garbage).
    pub downlink_errors: u64,
    /// Uplinks that asked for LinkCheckReq and DeviceTimeReq.
    pub mac_requests: u64,
    /// LinkCheckAns received (answers to the devices' own requests).
    pub link_check_answers: u64,
    /// DeviceTimeAns received.
    pub device_time_answers: u64,
    /// PUSH_ACKs the gateways received (Semtech UDP).
    pub push_acks: u64,
    /// Frames gateways heard but could not forward (a full MQTT queue, a
    /// send error).
    pub forward_errors: u64,
    /// Data uplinks sent (repetitions not counted).
    pub data_uplinks: u64,
    /// Every data uplink sent, in order; in a paced (load) run, only the
    /// confirmed ones (the others are only counted, in `data_uplinks`).
    pub uplinks: Vec<SentUplink>,
    /// Each device's state at the end, to resume it in a later run
    /// ([`Device::restore`]).
    pub states: Vec<(Eui64, DeviceState)>,
}

impl Report {
    /// The counts on one line (without the uplinks).
    pub fn summary(&self) -> String {
        let (confirmed, acked) = self.confirmed();
        format!(
            "{} devices, {} joined ({} join-requests); {} uplinks, {} repetitions ({} heard, {} lost), \
             {confirmed} confirmed, {acked} acknowledged; {} downlinks received, {} not \
             received by any device, {} refused; {} LinkCheckReq and DeviceTimeReq, {} LinkCheckAns, \
             {} DeviceTimeAns; {} PUSH_ACKs, \
             {} not forwarded",
            self.devices,
            self.joined,
            self.join_requests,
            self.data_uplinks,
            self.repetitions,
            self.uplinks_heard,
            self.uplinks_lost,
            self.downlinks_received,
            self.downlinks_unreceived,
            self.downlink_errors,
            self.mac_requests,
            self.link_check_answers,
            self.device_time_answers,
            self.push_acks,
            self.forward_errors,
        )
    }

    /// Confirmed uplinks sent, and how many were acknowledged.
    pub fn confirmed(&self) -> (usize, usize) {
        let confirmed = self.uplinks.iter().filter(|u| u.confirmed);
        let acked = confirmed.clone().filter(|u| u.acked).count();
        (confirmed.count(), acked)
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A gateway could not reach its server.
    #[error("gateway {gateway_id}: {reason}")]
    Connect {
        /// The gateway.
        gateway_id: Eui64,
        /// What failed.
        reason: String,
    },
}

/// A window a device listens in.
#[derive(Debug, Clone, Copy)]
struct Window {
    at: Instant,
    frequency: u32,
    lora: (u8, u32),
}

struct DeviceEar {
    position: Position,
    params: &'static RegionParams,
    inbox: mpsc::UnboundedSender<(Vec<u8>, i8)>,
    windows: Vec<Window>,
    /// Class C: listening on RX2 between uplinks.
    class_c: Option<(u32, (u8, u32))>,
}

struct GatewayEar {
    position: Position,
    inbox: mpsc::UnboundedSender<Heard>,
}

/// The shared air.
pub(crate) struct Air {
    radio: RadioModel,
    state: Mutex<AirState>,
}

struct AirState {
    devices: Vec<DeviceEar>,
    gateways: Vec<GatewayEar>,
    rng: Rng,
    report: Report,
}

/// The spreading factor and bandwidth of a LoRa data rate.
fn lora(params: &RegionParams, data_rate: u8) -> Option<(u8, u32)> {
    match params.data_rate(data_rate)?.modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth,
        } => Some((spreading_factor, bandwidth)),
        _ => None,
    }
}

impl Air {
    fn lock(&self) -> std::sync::MutexGuard<'_, AirState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Device `index` transmits `tx` now: the gateways in range hear it,
    /// and the device's windows open.
    fn uplink(&self, index: usize, tx: &Transmission, at: Instant) {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(ear) = state.devices.get_mut(index) else {
            return;
        };
        let Some(lora_tx) = lora(ear.params, tx.data_rate) else {
            return;
        };
        ear.windows.retain(|w| w.at + WINDOW_TOLERANCE > at);
        for rx in [tx.rx1, tx.rx2] {
            if let Some(l) = lora(ear.params, rx.data_rate) {
                ear.windows.push(Window {
                    at: at + rx.delay,
                    frequency: rx.frequency,
                    lora: l,
                });
            }
        }
        let position = ear.position;
        let mut heard = false;
        for gateway in &state.gateways {
            let noise = standard_normal(state.rng.unit(), state.rng.unit());
            let Some(link) =
                self.radio
                    .link(position.distance_m(&gateway.position), lora_tx.0, noise)
            else {
                continue;
            };
            heard = true;
            let _ = gateway.inbox.send(Heard {
                phy_payload: tx.phy_payload.clone(),
                frequency: tx.frequency,
                spreading_factor: lora_tx.0,
                bandwidth: lora_tx.1,
                rssi: link.rssi,
                snr: link.snr,
                at,
            });
        }
        if heard {
            state.report.uplinks_heard += 1;
        } else {
            state.report.uplinks_lost += 1;
        }
    }

    /// Device `index`, of class C, listens between uplinks on its current
    /// RX2 frequency and data rate.
    fn listen_class_c(&self, index: usize, frequency: u32, data_rate: u8) {
        let mut state = self.lock();
        if let Some(ear) = state.devices.get_mut(index)
            && ear.class_c.is_some()
            && let Some(l) = lora(ear.params, data_rate)
        {
            ear.class_c = Some((frequency, l));
        }
    }

    /// Gateway `index` transmits at `at`: the devices listening there and
    /// then, in range, receive it.
    pub(crate) fn downlink(
        &self,
        index: usize,
        phy_payload: &[u8],
        frequency: u32,
        lora_dl: (u8, u32),
        at: Instant,
    ) {
        let mut state = self.lock();
        let state = &mut *state;
        let Some(gateway) = state.gateways.get(index) else {
            return;
        };
        let from = gateway.position;
        let mut taken = false;
        for ear in &mut state.devices {
            // Windows stay open for their whole tolerance: a device hears
            // every frame that starts in one (another device's too, which
            // it drops), as a radio listening there would.
            ear.windows.retain(|w| w.at + WINDOW_TOLERANCE >= at);
            let matches = |f: u32, l: (u8, u32)| f == frequency && l == lora_dl;
            let in_window = ear.windows.iter().any(|w| {
                matches(w.frequency, w.lora) && w.at.max(at) - w.at.min(at) <= WINDOW_TOLERANCE
            });
            let class_c = ear.class_c.is_some_and(|(f, l)| matches(f, l));
            if !in_window && !class_c {
                continue;
            }
            let noise = standard_normal(state.rng.unit(), state.rng.unit());
            let Some(link) = self
                .radio
                .link(ear.position.distance_m(&from), lora_dl.0, noise)
            else {
                continue;
            };
            let _ = ear
                .inbox
                .send((phy_payload.to_vec(), link.snr.round() as i8));
            taken = true;
        }
        if !taken {
            state.report.downlinks_unreceived += 1;
        }
    }
}

/// xorshift64*: every random choice of the simulation, from its seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A draw in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// `base` scaled by a factor in [1 − spread, 1 + spread].
    fn jitter(&mut self, base: Duration, spread: f64) -> Duration {
        base.mul_f64(1.0 - spread + 2.0 * spread * self.unit())
    }
}

/// Runs `devices` and `gateways` against the server for the settings'
/// duration (a paced run: until [`Progress::stop`] too), then until the
/// last windows have closed. `progress` follows the run as it goes.
///
/// # Errors
/// A gateway cannot reach its server (socket, broker).
pub async fn run(
    devices: Vec<SimDevice>,
    gateways: Vec<SimGateway>,
    settings: &Settings,
    progress: &Arc<Progress>,
) -> Result<Report, SimError> {
    let mut rng = Rng::new(settings.seed);
    let mut device_inboxes = Vec::new();
    let mut ears = Vec::new();
    for d in &devices {
        let (tx, rx) = mpsc::unbounded_channel();
        let params = lorawan::region::params(d.device.config().region, d.device.config().revision);
        let class_c = d.device.config().class_c.then(|| {
            let (f, dr) = d.device.rx2();
            (f, lora(params, dr).unwrap_or((12, 125_000)))
        });
        ears.push(DeviceEar {
            position: d.position,
            params,
            inbox: tx,
            windows: Vec::new(),
            class_c,
        });
        device_inboxes.push(rx);
    }
    let mut gateway_inboxes = Vec::new();
    let mut gateway_ears = Vec::new();
    for g in &gateways {
        let (tx, rx) = mpsc::unbounded_channel();
        gateway_ears.push(GatewayEar {
            position: g.position,
            inbox: tx,
        });
        gateway_inboxes.push(rx);
    }
    let air = Arc::new(Air {
        radio: settings.radio,
        state: Mutex::new(AirState {
            devices: ears,
            gateways: gateway_ears,
            rng: Rng::new(rng.next()),
            report: Report {
                devices: devices.len(),
                ..Report::default()
            },
        }),
    });

    let counters = Arc::new(GatewayCounters::default());
    let mut gateway_tasks = Vec::new();
    for (index, (g, inbox)) in gateways.iter().zip(gateway_inboxes).enumerate() {
        let concentrator = Concentrator::new(Arc::clone(&air), index);
        match gateway::start(g, concentrator, inbox, settings, Arc::clone(&counters)).await {
            Ok(task) => gateway_tasks.push(task),
            Err(error) => {
                for task in gateway_tasks {
                    task.abort();
                }
                return Err(error);
            }
        }
    }
    // Let the server learn where the gateways are before anything is sent.
    tokio::time::sleep(Duration::from_millis(200)).await;

    progress.start(devices.len());
    let deadline = Instant::now() + settings.duration;
    let mut tasks = Vec::new();
    for (index, (d, inbox)) in devices.into_iter().zip(device_inboxes).enumerate() {
        let task = DeviceTask {
            index,
            sim: d,
            air: Arc::clone(&air),
            inbox,
            rng: Rng::new(rng.next()),
            deadline,
            join_retry: settings.join_retry,
            progress: Arc::clone(progress),
            sent: Vec::new(),
            downlinks: 0,
            errors: 0,
            join_requests: 0,
            repetitions: 0,
            data_uplinks: 0,
            link_check_answers: 0,
            device_time_answers: 0,
            mac_requests: 0,
        };
        let start = rng.jitter(settings.start_spread, 1.0) / 2;
        tasks.push(tokio::spawn(task.run(start)));
    }
    let mut uplinks = Vec::new();
    let mut states = Vec::new();
    let mut joined = 0;
    let (mut downlinks, mut errors, mut join_requests, mut repetitions) = (0, 0, 0, 0);
    let (mut data_uplinks, mut link_check_answers, mut device_time_answers) = (0, 0, 0);
    let mut mac_requests = 0;
    for task in tasks {
        if let Ok(done) = task.await {
            joined += usize::from(done.sim.device.is_joined());
            downlinks += done.downlinks;
            errors += done.errors;
            join_requests += done.join_requests;
            repetitions += done.repetitions;
            data_uplinks += done.data_uplinks;
            link_check_answers += done.link_check_answers;
            device_time_answers += done.device_time_answers;
            mac_requests += done.mac_requests;
            uplinks.extend(done.sent);
            states.push((done.sim.device.config().dev_eui, done.sim.device.state()));
        }
    }
    for task in gateway_tasks {
        task.abort();
    }
    uplinks.sort_by_key(|u| u.at);
    let mut report = air.lock().report.clone();
    report.joined = joined;
    report.downlinks_received = downlinks;
    report.downlink_errors = errors;
    report.join_requests = join_requests;
    report.repetitions = repetitions;
    report.push_acks = counters.push_acks.load(Ordering::Relaxed);
    report.forward_errors = counters.forward_errors.load(Ordering::Relaxed);
    report.uplinks = uplinks;
    report.data_uplinks = data_uplinks;
    report.link_check_answers = link_check_answers;
    report.device_time_answers = device_time_answers;
    report.mac_requests = mac_requests;
    report.states = states;
    Ok(report)
}

/// A run's shared state, for whoever watches it while it goes: what the
/// devices have joined and sent, what the application has received (fed
/// by [`UpEvents`](crate::events::UpEvents)), and in a paced run, the
/// uplinks on demand.
///
/// In a paced run ([`Progress::paced`]) joined devices send no uplink of
/// their own: each [`Progress::trigger`] makes the next joined device,
/// round robin, send one — a load generator sets the rate.
#[derive(Debug, Default)]
pub struct Progress {
    paced: bool,
    /// Someone matches the application's events (an [`UpEvents`]): keep
    /// the uplinks in flight for them; otherwise only count.
    ///
    /// [`UpEvents`]: crate::events::UpEvents
    matching: AtomicBool,
    joined: AtomicUsize,
    sent: AtomicU64,
    stopped: AtomicBool,
    /// Per device: its uplink token (paced runs) and whether it has joined.
    slots: OnceLock<Vec<Slot>>,
    next: AtomicUsize,
    flight: Mutex<Flight>,
}

#[derive(Debug, Default)]
struct Slot {
    token: Notify,
    joined: AtomicBool,
    /// Paced runs: waiting for its token (joined, and its last uplink's
    /// receive windows closed: a class A device sends nothing before).
    ready: AtomicBool,
}

/// Uplinks sent and not yet reported by the application, and the latency
/// of those that were.
#[derive(Debug, Default)]
struct Flight {
    waiting: HashMap<(Eui64, u32), (Instant, Vec<u8>)>,
    latencies: Vec<Duration>,
    /// Where the current step starts: in `latencies`, and in the count of
    /// uplinks sent.
    step_latencies: usize,
    step_sent: u64,
    /// Events for no uplink in flight (a repeat, a payload that differs,
    /// another run's device).
    unmatched: u64,
    /// Application downlinks enqueued and not yet received, by device and
    /// payload; the latency of those received; how many were enqueued.
    downlinks_waiting: HashMap<(Eui64, Vec<u8>), Instant>,
    downlink_latencies: Vec<Duration>,
    downlinks_enqueued: u64,
}

impl Progress {
    /// Devices send at their own intervals.
    pub fn new() -> Self {
        Self::default()
    }

    /// Joined devices send when [`trigger`](Self::trigger)ed.
    pub fn paced() -> Self {
        Self {
            paced: true,
            ..Self::default()
        }
    }

    /// The run begins with `devices` devices.
    fn start(&self, devices: usize) {
        let _ = self
            .slots
            .set((0..devices).map(|_| Slot::default()).collect());
    }

    fn slot(&self, index: usize) -> Option<&Slot> {
        self.slots.get()?.get(index)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Flight> {
        self.flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Devices in session.
    pub fn joined(&self) -> usize {
        self.joined.load(Ordering::Relaxed)
    }

    /// Devices in the run (0 before it starts).
    pub fn devices(&self) -> usize {
        self.slots.get().map_or(0, Vec::len)
    }

    /// Data uplinks sent.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// `up` events that matched no uplink in flight.
    pub fn unmatched(&self) -> u64 {
        self.lock().unmatched
    }

    fn device_joined(&self, index: usize) {
        if let Some(slot) = self.slot(index)
            && !slot.joined.swap(true, Ordering::Relaxed)
        {
            self.joined.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Paced runs: device `index` waits for its token.
    fn device_ready(&self, index: usize) {
        if let Some(slot) = self.slot(index) {
            slot.ready.store(true, Ordering::Relaxed);
        }
    }

    fn uplink_sent(&self, dev_eui: Eui64, f_cnt: u32, payload: &[u8], at: Instant) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.matching.load(Ordering::Relaxed) {
            self.lock()
                .waiting
                .insert((dev_eui, f_cnt), (at, payload.to_vec()));
        }
    }

    /// The application's events will be reported ([`up_event`](Self::up_event)):
    /// uplinks are kept in flight from now on, to be matched.
    pub fn match_events(&self) {
        self.matching.store(true, Ordering::Relaxed);
    }

    /// The application reported the uplink `f_cnt` of `dev_eui` with
    /// `data` at `at`: delivered if it is in flight with that payload.
    pub fn up_event(&self, dev_eui: Eui64, f_cnt: u32, data: &[u8], at: Instant) -> bool {
        let mut flight = self.lock();
        match flight.waiting.get(&(dev_eui, f_cnt)) {
            Some((sent, payload)) if payload == data => {
                let latency = at.saturating_duration_since(*sent);
                flight.waiting.remove(&(dev_eui, f_cnt));
                flight.latencies.push(latency);
                true
            }
            _ => {
                flight.unmatched += 1;
                false
            }
        }
    }

    /// An application downlink carrying `payload` was enqueued for
    /// `dev_eui` at `at`.
    pub fn downlink_enqueued(&self, dev_eui: Eui64, payload: &[u8], at: Instant) {
        let mut flight = self.lock();
        flight.downlinks_enqueued += 1;
        flight
            .downlinks_waiting
            .insert((dev_eui, payload.to_vec()), at);
    }

    /// The server refused the downlink [`downlink_enqueued`](Self::downlink_enqueued)
    /// recorded: it is not counted.
    pub fn downlink_refused(&self, dev_eui: Eui64, payload: &[u8]) {
        let mut flight = self.lock();
        if flight
            .downlinks_waiting
            .remove(&(dev_eui, payload.to_vec()))
            .is_some()
        {
            flight.downlinks_enqueued -= 1;
        }
    }

    /// `dev_eui` received an application payload: delivered if it was
    /// enqueued.
    fn downlink_received(&self, dev_eui: Eui64, payload: &[u8], at: Instant) -> bool {
        let mut flight = self.lock();
        match flight
            .downlinks_waiting
            .remove(&(dev_eui, payload.to_vec()))
        {
            Some(enqueued) => {
                let latency = at.saturating_duration_since(enqueued);
                flight.downlink_latencies.push(latency);
                true
            }
            None => false,
        }
    }

    /// Application downlinks so far: enqueued, received by their device,
    /// and how long from enqueuing to reception.
    pub fn downlinks(&self) -> Delivery {
        let flight = self.lock();
        Delivery::of(flight.downlinks_enqueued, flight.downlink_latencies.clone())
    }

    /// Whether device `index` of the run has joined.
    pub fn is_joined(&self, index: usize) -> bool {
        self.slot(index)
            .is_some_and(|s| s.joined.load(Ordering::Relaxed))
    }

    /// Every uplink so far: how many the application reported, how fast.
    pub fn delivery(&self) -> Delivery {
        let flight = self.lock();
        Delivery::of(self.sent(), flight.latencies.clone())
    }

    /// The uplinks of the current step (since the last call): how many
    /// the application reported, how fast, so far.
    pub fn step_so_far(&self) -> Delivery {
        let flight = self.lock();
        let latencies = flight.latencies[flight.step_latencies..].to_vec();
        Delivery::of(self.sent().saturating_sub(flight.step_sent), latencies)
    }

    /// Ends the current step: its figures; the uplinks still in flight
    /// count as lost from now on.
    pub fn end_step(&self) -> Delivery {
        let mut flight = self.lock();
        let sent = self.sent();
        let latencies = flight.latencies[flight.step_latencies..].to_vec();
        let delivery = Delivery::of(sent.saturating_sub(flight.step_sent), latencies);
        flight.step_latencies = flight.latencies.len();
        flight.step_sent = sent;
        flight.waiting.clear();
        delivery
    }

    /// Uplinks sent and not yet reported.
    pub fn in_flight(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Paced runs: makes the next ready device (joined, its last receive
    /// windows closed), round robin, send an uplink; `false` when no device
    /// is ready.
    pub fn trigger(&self) -> bool {
        let Some(slots) = self.slots.get().filter(|s| !s.is_empty()) else {
            return false;
        };
        for _ in 0..slots.len() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % slots.len();
            if slots[i].ready.swap(false, Ordering::Relaxed) {
                slots[i].token.notify_one();
                return true;
            }
        }
        false
    }

    /// Ends the run: devices stop sending, and the run returns once the
    /// last windows have closed.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        for slot in self.slots.get().into_iter().flatten() {
            slot.token.notify_one();
        }
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }
}

/// A device's task.
struct DeviceTask {
    index: usize,
    sim: SimDevice,
    air: Arc<Air>,
    inbox: mpsc::UnboundedReceiver<(Vec<u8>, i8)>,
    rng: Rng,
    deadline: Instant,
    join_retry: Duration,
    progress: Arc<Progress>,
    sent: Vec<SentUplink>,
    downlinks: u64,
    errors: u64,
    join_requests: u64,
    repetitions: u64,
    data_uplinks: u64,
    link_check_answers: u64,
    device_time_answers: u64,
    mac_requests: u64,
}

impl DeviceTask {
    fn running(&self) -> bool {
        Instant::now() < self.deadline && !self.progress.stopped()
    }

    async fn run(mut self, start: Duration) -> Self {
        let mut pending: HashMap<u32, usize> = HashMap::new();
        if self.sim.device.is_joined() {
            self.progress.device_joined(self.index);
        }
        self.listen_until(Instant::now() + start, &mut pending, false)
            .await;
        let mut failures = 0u32;
        let mut seq: u32 = 0;
        while self.running() {
            if !self.sim.device.is_joined() {
                let tx = self.sim.device.join_request();
                self.join_requests += 1;
                let at = Instant::now();
                self.air.uplink(self.index, &tx, at);
                self.listen_until(
                    at + tx.rx2.delay + WINDOW_TOLERANCE * 2,
                    &mut pending,
                    false,
                )
                .await;
                if !self.sim.device.is_joined() {
                    failures = (failures + 1).min(8);
                    let wait = self
                        .rng
                        .jitter(self.join_retry * (1 << (failures - 1)).min(8), 0.2);
                    self.listen_until(Instant::now() + wait, &mut pending, false)
                        .await;
                }
                continue;
            }
            failures = 0;
            if self.progress.paced {
                // The next uplink when the pace says so.
                self.progress.device_ready(self.index);
                self.listen_until(self.deadline, &mut pending, true).await;
                if !self.running() {
                    break;
                }
            }
            let payload = match self.sim.payloads.len() {
                0 => seq.to_be_bytes().to_vec(),
                n => self.sim.payloads[seq as usize % n].clone(),
            };
            seq = seq.wrapping_add(1);
            if self.sim.mac_requests_every > 0 && seq.is_multiple_of(self.sim.mac_requests_every) {
                self.sim.device.request(MacCommand::LinkCheckReq);
                self.sim.device.request(MacCommand::DeviceTimeReq);
                self.mac_requests += 1;
            }
            let confirmed =
                self.sim.confirmed_every > 0 && seq.is_multiple_of(self.sim.confirmed_every);
            let at = Instant::now();
            let next = at + self.rng.jitter(self.sim.uplink_interval, 0.1);
            let mut windows_end = None;
            match self.sim.device.uplink(self.sim.f_port, &payload, confirmed) {
                Ok(tx) => {
                    windows_end = Some(at + tx.rx2.delay + WINDOW_TOLERANCE * 2);
                    if let TxKind::Data { f_cnt, confirmed } = tx.kind {
                        if confirmed {
                            pending.insert(f_cnt, self.sent.len());
                        }
                        let dev_eui = self.sim.device.config().dev_eui;
                        self.progress.uplink_sent(dev_eui, f_cnt, &payload, at);
                        self.data_uplinks += 1;
                        // A load run keeps what it must match later only.
                        if confirmed || !self.progress.paced {
                            self.sent.push(SentUplink {
                                dev_eui,
                                f_cnt,
                                payload,
                                confirmed,
                                acked: false,
                                at,
                            });
                        }
                    }
                    self.air.uplink(self.index, &tx, at);
                }
                Err(_) => self.errors += 1,
            }
            if self.progress.paced {
                // Its windows, then ready again (no repetitions: the pace
                // is the uplinks').
                if let Some(end) = windows_end {
                    self.listen_until(end, &mut pending, false).await;
                }
            } else {
                let next = next.min(self.deadline);
                if let Some(end) = windows_end {
                    self.repeat(end, next, &mut pending).await;
                }
                self.listen_until(next, &mut pending, false).await;
            }
        }
        // The last windows.
        self.listen_until(Instant::now() + Duration::from_secs(3), &mut pending, false)
            .await;
        self
    }

    /// NbTrans: repeats the last uplink after its windows (ending at
    /// `windows_end`) passed without a downlink, while the repetition's
    /// windows end before the `next` uplink.
    async fn repeat(
        &mut self,
        mut windows_end: Instant,
        next: Instant,
        pending: &mut HashMap<u32, usize>,
    ) {
        loop {
            let downlinks = self.downlinks;
            self.listen_until(windows_end.min(next), pending, false)
                .await;
            if self.downlinks > downlinks || windows_end >= next || !self.running() {
                return;
            }
            let Some(tx) = self.sim.device.repeat() else {
                return;
            };
            let at = Instant::now();
            windows_end = at + tx.rx2.delay + WINDOW_TOLERANCE * 2;
            if windows_end > next {
                return;
            }
            self.repetitions += 1;
            self.air.uplink(self.index, &tx, at);
        }
    }

    /// Takes what the air delivers until `until` (with `token`: or until
    /// this device's uplink token comes, or the run stops).
    async fn listen_until(
        &mut self,
        until: Instant,
        pending: &mut HashMap<u32, usize>,
        token: bool,
    ) {
        let progress = Arc::clone(&self.progress);
        let slot = progress.slot(self.index).filter(|_| token);
        loop {
            if slot.is_some() && progress.stopped() {
                return;
            }
            let delivered = tokio::select! {
                d = self.inbox.recv() => d,
                () = tokio::time::sleep_until(until) => return,
                () = async {
                    match slot {
                        Some(slot) => slot.token.notified().await,
                        None => std::future::pending().await,
                    }
                } => return,
            };
            let Some((phy, snr)) = delivered else {
                return;
            };
            let received = self.sim.device.receive(&phy, snr);
            if self.sim.device.config().class_c {
                let (frequency, data_rate) = self.sim.device.rx2();
                self.air.listen_class_c(self.index, frequency, data_rate);
            }
            match received {
                Ok(Received::Joined { .. }) => {
                    self.downlinks += 1;
                    self.progress.device_joined(self.index);
                }
                Ok(Received::Data(data)) => {
                    self.downlinks += 1;
                    for command in &data.mac_commands {
                        match command {
                            MacCommand::LinkCheckAns(_) => self.link_check_answers += 1,
                            MacCommand::DeviceTimeAns(_) => self.device_time_answers += 1,
                            _ => {}
                        }
                    }
                    if data.f_port.is_some_and(|p| p > 0) {
                        let dev_eui = self.sim.device.config().dev_eui;
                        self.progress
                            .downlink_received(dev_eui, &data.payload, Instant::now());
                    }
                    if data.ack {
                        // The last confirmed uplink is acknowledged.
                        if let Some(max) = pending.keys().max().copied() {
                            if let Some(i) = pending.remove(&max) {
                                self.sent[i].acked = true;
                            }
                            pending.clear();
                        }
                    }
                }
                // Another device's frame in the same window is normal, and
                // so is another's join-accept once this one has joined.
                Err(DeviceError::NotForMe | DeviceError::NoJoinPending) => {}
                Err(_) => self.errors += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{DeviceConfig, LorawanVersion};
    use lorawan::keys::{AppKey, NwkKey};
    use lorawan::region::{Region, Revision};

    /// An air, the receivers of its one device and one gateway, and the
    /// device.
    type Fixture = (
        Air,
        mpsc::UnboundedReceiver<(Vec<u8>, i8)>,
        mpsc::UnboundedReceiver<Heard>,
        Device,
    );

    /// An air with one device at the origin and one gateway `distance_m`
    /// east.
    fn air(distance_m: f64, class_c: bool) -> Fixture {
        let mut config = DeviceConfig::otaa(
            Eui64::from_u64(1),
            Eui64::from_u64(2),
            NwkKey::from_be_bytes([1; 16]),
            AppKey::from_be_bytes([2; 16]),
            LorawanVersion::V1_0_3,
            Region::Eu868,
            Revision::Rp002_1_0_3,
        );
        config.class_c = class_c;
        let device = Device::new(config);
        let params = lorawan::region::params(Region::Eu868, Revision::Rp002_1_0_3);
        let origin = Position::new(52.0, 5.0, 0.0);
        let (dtx, drx) = mpsc::unbounded_channel();
        let (gtx, grx) = mpsc::unbounded_channel();
        let air = Air {
            radio: RadioModel::default(),
            state: Mutex::new(AirState {
                devices: vec![DeviceEar {
                    position: origin,
                    params,
                    inbox: dtx,
                    windows: Vec::new(),
                    class_c: class_c.then_some((869_525_000, (12, 125_000))),
                }],
                gateways: vec![GatewayEar {
                    position: origin.offset(0.0, distance_m),
                    inbox: gtx,
                }],
                rng: Rng::new(7),
                report: Report::default(),
            }),
        };
        (air, drx, grx, device)
    }

    #[test]
    fn downlinks_are_received_only_in_their_windows() {
        let (air, mut inbox, mut gateway, mut device) = air(300.0, false);
        let t0 = Instant::now();
        let tx = device.join_request();
        air.uplink(0, &tx, t0);
        let heard = gateway.try_recv().expect("the gateway hears it");
        assert_eq!((heard.frequency, heard.at), (tx.frequency, t0));
        assert_eq!(heard.spreading_factor, 7, "DR5");
        let rx1 = t0 + tx.rx1.delay;
        let (f1, l1) = (tx.rx1.frequency, (7, 125_000));
        // In RX1, 40 ms late: received. 60 ms late: not.
        air.downlink(0, b"a", f1, l1, rx1 + Duration::from_millis(40));
        assert_eq!(inbox.try_recv().unwrap().0, b"a");
        air.downlink(0, b"b", f1, l1, rx1 + Duration::from_millis(60));
        assert!(inbox.try_recv().is_err());
        // The right time on the wrong frequency or data rate: not.
        air.downlink(0, b"c", f1 + 200_000, l1, rx1);
        air.downlink(0, b"d", f1, (9, 125_000), rx1);
        assert!(inbox.try_recv().is_err());
        // RX2: its own frequency and data rate, a second later.
        let rx2 = t0 + tx.rx2.delay;
        air.downlink(0, b"e", 869_525_000, (12, 125_000), rx2);
        assert_eq!(inbox.try_recv().unwrap().0, b"e");
        // After the windows, nothing.
        air.downlink(
            0,
            b"f",
            869_525_000,
            (12, 125_000),
            rx2 + Duration::from_secs(1),
        );
        assert!(inbox.try_recv().is_err());
        let report = air.lock().report.clone();
        assert_eq!((report.uplinks_heard, report.downlinks_unreceived), (1, 4));
    }

    #[test]
    fn out_of_range_frames_are_lost_both_ways() {
        let (air, mut inbox, mut gateway, mut device) = air(50_000.0, false);
        let t0 = Instant::now();
        let tx = device.join_request();
        air.uplink(0, &tx, t0);
        assert!(gateway.try_recv().is_err());
        air.downlink(0, b"x", tx.rx1.frequency, (7, 125_000), t0 + tx.rx1.delay);
        assert!(inbox.try_recv().is_err());
        let report = air.lock().report.clone();
        assert_eq!((report.uplinks_lost, report.downlinks_unreceived), (1, 1));
    }

    #[test]
    fn class_c_devices_listen_on_rx2_at_any_time() {
        let (air, mut inbox, _gateway, _device) = air(300.0, true);
        let later = Instant::now() + Duration::from_secs(42);
        air.downlink(0, b"c", 869_525_000, (12, 125_000), later);
        assert_eq!(inbox.try_recv().unwrap().0, b"c");
        // Not on another frequency.
        air.downlink(0, b"d", 868_100_000, (12, 125_000), later);
        assert!(inbox.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_paced_run_triggers_ready_devices_in_turn() {
        let p = Progress::paced();
        assert!(!p.trigger(), "not started");
        p.start(3);
        assert!(!p.trigger(), "nobody joined");
        p.device_joined(0);
        p.device_joined(2);
        p.device_joined(2);
        assert_eq!((p.joined(), p.devices()), (2, 3));
        assert!(!p.trigger(), "nobody waits for a token yet");
        p.device_ready(0);
        p.device_ready(2);
        let token = |i: usize| {
            let slot = p.slot(i).unwrap();
            async move {
                tokio::time::timeout(Duration::ZERO, slot.token.notified())
                    .await
                    .is_ok()
            }
        };
        // Device 0, then 2 (1 has not joined); then none until one is
        // ready again (its windows closed).
        assert!(p.trigger() && p.trigger());
        assert!(token(0).await && !token(1).await && token(2).await);
        assert!(!p.trigger());
        p.device_ready(0);
        assert!(p.trigger());
        assert!(token(0).await && !token(2).await);
        // Stopping wakes every device.
        p.stop();
        assert!(p.stopped() && token(1).await);
    }

    #[test]
    fn events_are_matched_to_uplinks_in_flight_step_by_step() {
        let p = Progress::new();
        let eui = Eui64::from_u64(9);
        let t0 = Instant::now();
        // Nobody matches events: uplinks are only counted.
        p.uplink_sent(eui, 0, b"zero", t0);
        assert_eq!((p.sent(), p.in_flight()), (1, 0));
        p.end_step();
        p.match_events();
        p.uplink_sent(eui, 1, b"one", t0);
        p.uplink_sent(eui, 2, b"two", t0);
        // Another payload, an unknown frame: not delivered.
        assert!(!p.up_event(eui, 1, b"eno", t0));
        assert!(!p.up_event(Eui64::from_u64(8), 1, b"one", t0));
        assert!(p.up_event(eui, 1, b"one", t0 + Duration::from_millis(210)));
        // A repeat of the same event counts once.
        assert!(!p.up_event(eui, 1, b"one", t0 + Duration::from_millis(300)));
        assert_eq!((p.unmatched(), p.in_flight()), (3, 1));
        let step = p.end_step();
        assert_eq!((step.sent, step.delivered), (2, 1));
        assert_eq!(step.p50, Duration::from_millis(210));
        // Frame 2 is lost from now on; the next step starts afresh.
        assert_eq!(p.in_flight(), 0);
        assert!(!p.up_event(eui, 2, b"two", t0));
        p.uplink_sent(eui, 3, b"three", t0);
        assert_eq!(p.step_so_far().sent, 1);
        assert!(p.up_event(eui, 3, b"three", t0 + Duration::from_millis(5)));
        let all = p.delivery();
        assert_eq!((all.sent, all.delivered), (4, 2));
    }

    #[test]
    fn jitter_stays_in_its_range_and_the_seed_decides() {
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        for _ in 0..1_000 {
            let d = a.jitter(Duration::from_secs(10), 0.1);
            assert!(
                d >= Duration::from_secs(9) && d <= Duration::from_secs(11),
                "{d:?}"
            );
            assert_eq!(d, b.jitter(Duration::from_secs(10), 0.1));
        }
    }
}
