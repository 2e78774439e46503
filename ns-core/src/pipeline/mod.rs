//! The network server's uplink pipeline: the driver that turns gateway
//! events into stored state, downlinks and application events.
//!
//! The pipeline's task ([`Pipeline::start`]) owns the [`Deduplicator`]: every gateway backend
//! (MQTT, [`UdpBackend`](crate::udp_backend::UdpBackend), anything an
//! embedder writes) hands its [`GatewayEvent`]s to the pipeline through
//! [`PipelineHandle::attach`] or [`PipelineHandle::input`]. With a [`SharedState`]
//! set ([`Pipeline::set_shared_state`]), the copies are de-duplicated
//! through Redis with the other server instances instead, and TX-ack
//! contexts kept there (see [`crate::shared_state`]). When a frame set
//! closes, a task processes it:
//!
//! 1. **Gateways**: receptions by gateways not in storage are dropped
//!    unless `allow_unknown_gateways`.
//! 2. **Data uplink** ([`crate::uplink`]): candidate sessions by DevAddr,
//!    MIC, FCnt, decryption; then the uplink's MAC commands
//!    ([`crate::mac`]); then the new session is stored with the
//!    conditional update on `f_cnt_up` (a frame already processed by
//!    another instance stops here, silently); then the `up` (and `status`,
//!    `ack`) events.
//! 3. After `get_downlink_data_delay` (the application's moment to
//!    enqueue), the **class A downlink** ([`crate::downlink`]): the MAC
//!    requests that fit, the queue, the windows, the gateway; the frame is
//!    handed to the backend the uplink came from and its
//!    [`TxAckContext`] kept until the gateway's `ack`.
//! 4. **Join-request** ([`crate::join`]): device and keys, MIC, DevNonce
//!    recorded atomically, DevAddr allocated, session stored, join-accept
//!    sent, `join` event.
//! 5. **TX ack**: the counter used advances, the queue item is deleted or
//!    marked pending, `txack` or `log` events.
//! 6. **Class C** (a task of its own, every `network.scheduler.interval`
//!    and when an item is enqueued): class C devices due a downlink are
//!    claimed in storage and sent their next queue item at once, in RX2,
//!    through a gateway of their last uplink ([`crate::downlink::class_c_downlink`]);
//!    their TX acks are handled as in 5.
//!
//! Stats events update the gateway's `last_seen_at`.
//!
//! Bad input of any kind is counted in [`PipelineCounters`], logged, and
//! given a `log` event when an application owns the device; nothing else
//! changes.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ns_core::config::Config;
//! use ns_core::pipeline::{ChannelSink, Pipeline, PipelineSettings};
//! use ns_core::storage::Storage;
//! use ns_core::udp_backend::{UdpBackend, UdpBackendConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::default();
//! let storage = Storage::connect("sqlite::memory:").await?;
//! let settings = PipelineSettings::from_config(&config)?;
//! let (events, mut received) = ChannelSink::new(1024);
//! let mut pipeline = Pipeline::new(settings, storage);
//! pipeline.add_event_sink(Arc::new(events));
//!
//! let (udp, gateway_events) = UdpBackend::start(UdpBackendConfig::new("0.0.0.0:1700")).await?;
//! let udp = Arc::new(udp);
//! pipeline.add_downlink_sender("eu868", udp.clone());
//! let handle = pipeline.start();
//! handle.attach("eu868", gateway_events);
//! while let Some(event) = received.recv().await {
//!     println!("{:?}", event.kind());
//! }
//! # Ok(()) }
//! ```

mod batch;
mod cache;
mod clock;
mod commands;
mod counters;
mod downlink;
mod instances;
mod join;
mod scheduler;
mod uplink;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lorawan::region::Network;
use lorawan::{Eui64, NetId};
use packet_forwarder::gw;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::adr::AdrRegistry;
use crate::config::{Config, ConfigError, Scheduler};
use crate::dedup::{DedupConfig, Deduplicator, UplinkFrameSet};
use crate::downlink::{DownlinkSettings, TxAckContext};
use crate::gateway_backend::{GatewayBackend, GatewayEvent};
use crate::integration::publish::{HttpPublisher, MqttPublisher};
use crate::integration::{DeviceInfo, Event};
use crate::join::JoinOptions;
use crate::mac::{DesiredSettings, MacConfig};
use crate::metrics;
use crate::shared_state::SharedState;
use crate::storage::{Storage, StorageError};

pub use clock::Clock;
pub use commands::{CommandQueue, EnqueueError};
pub use counters::{LATENCY_BUCKETS_MS, LatencyHistogram, PipelineCounters, RejectCounts, Sample};

/// How many frame sets are processed at once; more wait for a slot.
const MAX_IN_FLIGHT: usize = 4096;
/// The input channel's capacity (gateway events from every backend).
const INPUT_CAPACITY: usize = 65_536;
/// How long a downlink's TX-ack context is kept when no ack comes.
const TX_ACK_TTL: Duration = Duration::from_secs(60);
/// The most TX-ack contexts kept: gateways that never ack cannot make the
/// server's memory grow without bound.
const MAX_PENDING_DOWNLINKS: usize = 100_000;

/// The network settings the pipeline runs with, from the [`Config`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineSettings {
    /// The NetID (join-accepts, DevAddr allocation).
    pub net_id: NetId,
    /// `network.dev_addr_prefixes`, as text (`"26000000/7"`).
    pub dev_addr_prefixes: Vec<String>,
    /// The de-duplication window and limits.
    pub dedup: DedupConfig,
    /// MAC-command settings.
    pub mac: MacConfig,
    /// `network.mac_commands_disabled`: no MAC requests are sent (answers
    /// to device requests still are).
    pub mac_commands_disabled: bool,
    /// How long to wait after the `up` event before reading the queue.
    pub get_downlink_data_delay: Duration,
    /// `gateway.allow_unknown_gateways`.
    pub allow_unknown_gateways: bool,
    /// The enabled regions, by id.
    pub regions: HashMap<String, RegionSettings>,
    /// `network.scheduler`: the class C scheduler's interval, batch size
    /// and locks.
    pub scheduler: Scheduler,
    /// Where the time of day comes from ([`Clock::System`]; tests on a
    /// paused runtime use [`Clock::runtime`]).
    pub clock: Clock,
}

/// One enabled region configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RegionSettings {
    /// The resolved region configuration.
    pub network: Network,
    /// Its class A downlink settings.
    pub downlink: DownlinkSettings,
    /// Its join-accept settings.
    pub join: JoinOptions,
    /// What the MAC layer steers devices to.
    pub desired: DesiredSettings,
}

impl PipelineSettings {
    /// The settings of a loaded configuration.
    ///
    /// # Errors
    /// A region that does not resolve (never for a loaded configuration).
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mut regions = HashMap::new();
        for entry in config.enabled_regions() {
            let network = entry.network()?;
            let mut desired = DesiredSettings::from_network(&network);
            desired.adr_disabled = entry.network.adr_disabled;
            desired.installation_margin = entry.network.installation_margin;
            regions.insert(
                entry.id.clone(),
                RegionSettings {
                    downlink: entry.downlink_settings(),
                    join: entry.join_options(),
                    desired,
                    network,
                },
            );
        }
        Ok(Self {
            net_id: config.network.net_id,
            dev_addr_prefixes: config
                .network
                .dev_addr_prefixes
                .iter()
                .map(ToString::to_string)
                .collect(),
            dedup: config.dedup_config(),
            mac: config.mac_config(),
            mac_commands_disabled: config.network.mac_commands_disabled,
            get_downlink_data_delay: config.network.get_downlink_data_delay,
            allow_unknown_gateways: config.gateway.allow_unknown_gateways,
            regions,
            scheduler: config.network.scheduler.clone(),
            clock: Clock::System,
        })
    }
}

/// Where a region's downlinks go: the gateway backend its uplinks came
/// from. Implemented by [`GatewayBackend`] (MQTT) and
/// [`UdpBackend`](crate::udp_backend::UdpBackend); never waits.
pub trait DownlinkSender: Send + Sync + 'static {
    /// Queues the frame for its gateway (`frame.gateway_id`).
    ///
    /// # Errors
    /// Why the frame cannot be queued (unknown gateway, queue full).
    fn send_downlink(
        &self,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;

    /// Whether this backend can reach the gateway (`frame.gateway_id`);
    /// [`FirstOf`] skips those that cannot. Default: yes.
    fn serves(&self, _gateway_id: &str) -> bool {
        true
    }
}

impl DownlinkSender for GatewayBackend {
    fn send_downlink(
        &self,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Self::send_downlink(self, frame)
            .map(|_| ())
            .map_err(Into::into)
    }
}

impl DownlinkSender for crate::udp_backend::UdpBackend {
    fn send_downlink(
        &self,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Self::send_downlink(self, frame).map_err(Into::into)
    }

    fn serves(&self, gateway_id: &str) -> bool {
        gateway_id
            .parse::<Eui64>()
            .is_ok_and(|id| self.is_connected(id))
    }
}

/// Several backends serving one region (the built-in UDP bridge and MQTT
/// gateways): a downlink goes to the first that
/// [`serves`](DownlinkSender::serves) its gateway. The UDP backend serves
/// the gateways connected to it; MQTT, which cannot tell, serves any, so
/// put it last.
#[derive(Default)]
pub struct FirstOf(pub Vec<Arc<dyn DownlinkSender>>);

impl std::fmt::Debug for FirstOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FirstOf({} senders)", self.0.len())
    }
}

impl DownlinkSender for FirstOf {
    fn serves(&self, gateway_id: &str) -> bool {
        self.0.iter().any(|s| s.serves(gateway_id))
    }

    fn send_downlink(
        &self,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        match self.0.iter().find(|s| s.serves(&frame.gateway_id)) {
            Some(sender) => sender.send_downlink(frame),
            None => Err(format!("no gateway backend serves gateway {}", frame.gateway_id).into()),
        }
    }
}

/// Where application events go: the integrations. Never waits; a sink
/// that cannot keep up drops and counts.
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event.
    fn publish(&self, event: &Event);

    /// Takes a frame as it went over the air, for live frame logs. The
    /// default ignores it.
    fn frame(&self, _frame: FrameLog<'_>) {}
}

/// A frame as it went over the air ([`EventSink::frame`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum FrameLog<'a> {
    /// An uplink as its gateways heard it; with the device once the
    /// server knows which it is (then logged a second time).
    Uplink {
        /// The de-duplicated receptions.
        set: &'a UplinkFrameSet,
        /// The device, once identified.
        dev_eui: Option<Eui64>,
    },
    /// A downlink as handed to its gateway.
    Downlink {
        /// The downlink.
        frame: &'a gw::DownlinkFrame,
        /// The device it is for.
        dev_eui: Option<Eui64>,
    },
}

impl EventSink for MqttPublisher {
    fn publish(&self, event: &Event) {
        // Dropped events are counted by the publisher.
        let _ = Self::publish(self, event);
    }
}

impl EventSink for HttpPublisher {
    fn publish(&self, event: &Event) {
        let _ = Self::publish(self, event);
    }
}

/// An [`EventSink`] handing events to a bounded channel: for embedders
/// and tests. A full channel drops the event.
#[derive(Debug, Clone)]
pub struct ChannelSink {
    tx: mpsc::Sender<Event>,
}

impl ChannelSink {
    /// A sink and the receiving end of its channel.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }
}

impl EventSink for ChannelSink {
    fn publish(&self, event: &Event) {
        let _ = self.tx.try_send(event.clone());
    }
}

/// A gateway event with the region configuration it came in under.
#[derive(Debug, Clone)]
pub struct Input {
    /// The region configuration id (the MQTT topic prefix, or the UDP
    /// backend's region).
    pub region_config_id: Arc<str>,
    /// The event.
    pub event: GatewayEvent,
}

/// The pipeline being assembled; [`start`](Self::start) runs it.
pub struct Pipeline {
    settings: PipelineSettings,
    storage: Storage,
    adr: AdrRegistry,
    senders: HashMap<String, Arc<dyn DownlinkSender>>,
    sinks: Vec<Arc<dyn EventSink>>,
    shared_state: Option<SharedState>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("regions", &self.settings.regions.keys())
            .field("senders", &self.senders.keys())
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over `storage` with the default ADR algorithms, no
    /// downlink sender and no event sink yet.
    pub fn new(settings: PipelineSettings, storage: Storage) -> Self {
        Self {
            settings,
            storage,
            adr: AdrRegistry::default(),
            senders: HashMap::new(),
            sinks: Vec::new(),
            shared_state: None,
        }
    }

    /// De-duplicates uplinks and keeps TX-ack contexts through Redis, shared
    /// with the other instances (see [`crate::shared_state`]); without it,
    /// both stay in this process.
    pub fn set_shared_state(&mut self, state: SharedState) {
        self.shared_state = Some(state);
    }

    /// Uses these ADR algorithms instead of the built-in ones.
    pub fn set_adr_registry(&mut self, adr: AdrRegistry) {
        self.adr = adr;
    }

    /// Sends the downlinks of region `region_config_id` through `sender`.
    pub fn add_downlink_sender(&mut self, region_config_id: &str, sender: Arc<dyn DownlinkSender>) {
        self.senders.insert(region_config_id.to_owned(), sender);
    }

    /// Hands every application event to `sink` as well.
    pub fn add_event_sink(&mut self, sink: Arc<dyn EventSink>) {
        self.sinks.push(sink);
    }

    /// Starts the pipeline task. Must be called within a tokio runtime.
    pub fn start(self) -> PipelineHandle {
        let (tx, rx) = mpsc::channel(INPUT_CAPACITY);
        let dedup = Deduplicator::new(self.settings.dedup.clone());
        let storage = self.storage.clone();
        let (fallback, fallback_rx) = mpsc::channel(instances::FALLBACK_CAPACITY);
        let instances = self.shared_state.map(|state| {
            instances::Instances::new(state, self.settings.dedup.max_open_sets, fallback)
        });
        let shared = Arc::new(Shared {
            settings: self.settings,
            storage: self.storage,
            adr: self.adr,
            senders: self.senders,
            sinks: self.sinks,
            pending: Mutex::new(HashMap::new()),
            instances,
            cache: cache::Cache::default(),
            candidate_reads: batch::candidate_reader(storage.clone()),
            session_writes: batch::session_writer(storage.clone()),
            queue_reads: batch::queue_reader(storage.clone()),
            counters: Arc::new(PipelineCounters::default()),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            scheduler_wake: Arc::new(Notify::new()),
        });
        let task = tokio::spawn(run(Arc::clone(&shared), dedup, rx, fallback_rx));
        let scheduler = tokio::spawn(scheduler::run(
            Arc::clone(&shared),
            Arc::clone(&shared.scheduler_wake),
        ));
        PipelineHandle {
            input: tx,
            shared,
            task,
            scheduler,
            forwarders: Mutex::new(Vec::new()),
        }
    }
}

/// Drops the pipeline's cached sessions the API changed.
struct CacheInvalidator(Arc<Shared>);

impl crate::api::ChangeListener for CacheInvalidator {
    fn device_changed(&self, _dev_eui: Eui64, dev_addr: Option<lorawan::DevAddr>) {
        if let Some(dev_addr) = dev_addr {
            self.0.cache.invalidate(dev_addr);
        }
    }

    fn device_profile_changed(&self, _id: uuid::Uuid) {
        self.0.cache.invalidate_all();
    }

    fn queue_changed(&self, _dev_eui: Eui64) {
        self.0.scheduler_wake.notify_one();
    }
}

/// A running pipeline.
#[derive(Debug)]
pub struct PipelineHandle {
    input: mpsc::Sender<Input>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    scheduler: JoinHandle<()>,
    forwarders: Mutex<Vec<JoinHandle<()>>>,
}

impl PipelineHandle {
    /// What the management API tells when it changes devices, so that the
    /// pipeline's cached copies are dropped at once.
    pub fn change_listener(&self) -> Arc<dyn crate::api::ChangeListener> {
        Arc::new(CacheInvalidator(Arc::clone(&self.shared)))
    }

    /// The pipeline's input: send gateway events here. Full: the sender
    /// waits (or `try_send` fails), which is how backpressure reaches a
    /// backend.
    pub fn input(&self) -> mpsc::Sender<Input> {
        self.input.clone()
    }

    /// Forwards every event of a backend's channel, as received under the
    /// region configuration `region_config_id`.
    pub fn attach(&self, region_config_id: &str, mut events: mpsc::Receiver<GatewayEvent>) {
        let region: Arc<str> = region_config_id.into();
        let input = self.input.clone();
        let task = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(INPUT_BATCH);
            while events.recv_many(&mut batch, INPUT_BATCH).await > 0 {
                for event in batch.drain(..) {
                    let item = Input {
                        region_config_id: Arc::clone(&region),
                        event,
                    };
                    if input.send(item).await.is_err() {
                        return;
                    }
                }
            }
        });
        if let Ok(mut forwarders) = self.forwarders.lock() {
            forwarders.push(task);
        }
    }

    /// What the pipeline has done so far.
    pub fn counters(&self) -> &Arc<PipelineCounters> {
        &self.shared.counters
    }

    /// A cloneable handle that enqueues integration commands.
    pub fn command_queue(&self) -> CommandQueue {
        CommandQueue {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The storage the pipeline uses.
    pub fn storage(&self) -> &Storage {
        &self.shared.storage
    }

    /// The Redis state shared with other instances, if configured.
    pub fn shared_state(&self) -> Option<&SharedState> {
        self.shared
            .instances
            .as_ref()
            .map(instances::Instances::state)
    }

    /// Stops taking input and waits (up to `wait`) for the frame sets in
    /// progress.
    pub async fn shutdown(self, wait: Duration) {
        if let Ok(mut forwarders) = self.forwarders.lock() {
            for f in forwarders.drain(..) {
                f.abort();
            }
        }
        self.task.abort();
        self.scheduler.abort();
        let slots = Arc::clone(&self.shared.slots);
        let all = u32::try_from(MAX_IN_FLIGHT).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(wait, slots.acquire_many(all)).await;
    }
}

/// What the pipeline's tasks share.
struct Shared {
    settings: PipelineSettings,
    storage: Storage,
    adr: AdrRegistry,
    senders: HashMap<String, Arc<dyn DownlinkSender>>,
    sinks: Vec<Arc<dyn EventSink>>,
    /// TX-ack contexts by downlink id.
    pending: Mutex<HashMap<u32, PendingDownlink>>,
    /// Redis, shared with other instances (de-duplication, TX-ack
    /// contexts); `None`: everything in-process.
    instances: Option<instances::Instances>,
    cache: cache::Cache,
    /// The uplink path's device lookups, batched.
    candidate_reads: batch::Batcher<
        lorawan::DevAddr,
        Option<Vec<(crate::model::Device, crate::model::DeviceProfile)>>,
    >,
    /// The uplink path's session writes, batched.
    session_writes: batch::Batcher<batch::SessionWrite, Option<bool>>,
    /// The downlink path's queue reads, batched.
    queue_reads: batch::Batcher<Eui64, Option<Vec<crate::model::QueueItem>>>,
    counters: Arc<PipelineCounters>,
    slots: Arc<Semaphore>,
    /// Runs the class C scheduler before its next tick (an item enqueued).
    scheduler_wake: Arc<Notify>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// A downlink sent and waiting for its gateway's ack.
#[derive(Debug, Clone)]
struct PendingDownlink {
    kind: PendingKind,
    device_info: DeviceInfo,
    sent_at: tokio::time::Instant,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum PendingKind {
    /// A class A data downlink.
    Data(Box<TxAckContext>),
    /// A join-accept (no counters; a failure is logged).
    JoinAccept { dev_eui: Eui64 },
}

/// At most this many gateway events are taken per turn of the pipeline
/// task, before the timers and the frame sets closed meanwhile.
const INPUT_BATCH: usize = 64;

/// The pipeline task: gateway events in, frame sets out to worker tasks.
async fn run(
    shared: Arc<Shared>,
    mut dedup: Deduplicator,
    mut input: mpsc::Receiver<Input>,
    mut fallback: mpsc::Receiver<instances::Fallback>,
) {
    // TX-ack contexts expire and the de-duplicator's counters are copied
    // once a second, whether gateway events come or not.
    let mut sweep = tokio::time::interval(Duration::from_secs(1));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = dedup.poll_timeout();
        tokio::select! {
            item = input.recv() => {
                let Some(Input { region_config_id, event }) = item else { return };
                handle_input(&shared, &mut dedup, &region_config_id, event);
                // What else is queued already, without a round of
                // `select!` (and a new timer) for each.
                for _ in 1..INPUT_BATCH {
                    let Ok(Input { region_config_id, event }) = input.try_recv() else { break };
                    handle_input(&shared, &mut dedup, &region_config_id, event);
                }
            }
            Some((region, frame)) = fallback.recv() => {
                // Redis failed for this copy: de-duplicated here alone.
                dedup.handle_frame(tokio::time::Instant::now().into_std(), &region, frame);
            }
            () = sleep_until(deadline) => {
                dedup.handle_timeout(tokio::time::Instant::now().into_std());
            }
            now = sweep.tick() => {
                shared.counters.set_dedup(dedup.counters());
                shared.expire_pending(now);
            }
        }
        let mut closed = false;
        while let Some(set) = dedup.poll_set() {
            closed = true;
            spawn_set(&shared, set).await;
        }
        if closed {
            // Not per frame: a copy under a lock on every gateway event
            // would tax the hot loop for a metric.
            shared.counters.set_dedup(dedup.counters());
        }
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn handle_input(shared: &Arc<Shared>, dedup: &mut Deduplicator, region: &str, event: GatewayEvent) {
    let now = tokio::time::Instant::now().into_std();
    match event {
        GatewayEvent::Up { frame, .. } => {
            if !shared.settings.regions.contains_key(region) {
                shared.counters.bump(&shared.counters.unknown_region);
                return;
            }
            if shared.instances.is_some() {
                shared.collect_copy(region, frame);
                return;
            }
            dedup.handle_frame(now, region, frame);
        }
        GatewayEvent::Stats { gateway_id, stats } => {
            let shared = Arc::clone(shared);
            let region: Arc<str> = region.into();
            tokio::spawn(async move { shared.handle_stats(&region, gateway_id, &stats).await });
        }
        GatewayEvent::Ack { gateway_id, ack } => {
            let shared = Arc::clone(shared);
            tokio::spawn(async move { shared.handle_tx_ack(gateway_id, ack).await });
        }
    }
}

async fn spawn_set(shared: &Arc<Shared>, set: UplinkFrameSet) {
    let Ok(permit) = Arc::clone(&shared.slots).acquire_owned().await else {
        return;
    };
    let shared = Arc::clone(shared);
    // Boxed: the future is about 9 KB, and tokio moves a task's future
    // by value into its cell and writes the whole stage again when it
    // completes; those copies were 17 % of the runtime thread's time at
    // 10 000 uplinks a second (a pointer moves instead).
    tokio::spawn(Box::pin(async move {
        shared.handle_set(set).await;
        drop(permit);
    }));
}

impl Shared {
    /// Hands an event to every sink.
    fn publish(&self, event: Event) {
        self.counters.count_event(event.kind());
        for sink in &self.sinks {
            sink.publish(&event);
        }
    }

    /// Hands a frame to the sinks' frame logs.
    fn log_frame(&self, frame: FrameLog<'_>) {
        for sink in &self.sinks {
            sink.frame(frame);
        }
    }

    /// Sends a downlink (for `dev_eui`, if known) through the region's
    /// backend.
    fn send(
        &self,
        region_config_id: &str,
        frame: &gw::DownlinkFrame,
        dev_eui: Option<Eui64>,
    ) -> bool {
        let Some(sender) = self.senders.get(region_config_id) else {
            self.counters.bump(&self.counters.downlink_errors);
            warn!(
                region_config_id,
                "no gateway backend for the region: downlink dropped"
            );
            return false;
        };
        match sender.send_downlink(frame) {
            Ok(()) => {
                self.counters.bump(&self.counters.downlinks_sent);
                self.log_frame(FrameLog::Downlink { frame, dev_eui });
                true
            }
            Err(error) => {
                self.counters.bump(&self.counters.downlink_errors);
                warn!(gateway_id = frame.gateway_id, %error, "downlink not sent");
                false
            }
        }
    }

    async fn handle_set(&self, set: UplinkFrameSet) {
        let Some(set) = self.filter_gateways(set).await else {
            return;
        };
        self.log_frame(FrameLog::Uplink {
            set: &set,
            dev_eui: None,
        });
        let mtype = set.phy_payload.first().map(|b| b >> 5);
        match mtype {
            Some(0b000) => self.handle_join_request(set).await,
            Some(0b010 | 0b100) => self.handle_data_uplink(set).await,
            _ => {
                self.counters.bump(&self.counters.uplinks_unsupported);
                debug!(mtype = ?mtype, "uplink type not handled: dropped");
            }
        }
    }

    /// Leaves out the receptions of gateways not in storage, unless
    /// unknown gateways are allowed; `None` when none is left.
    async fn filter_gateways(&self, mut set: UplinkFrameSet) -> Option<UplinkFrameSet> {
        if self.settings.allow_unknown_gateways {
            return Some(set);
        }
        let mut kept = Vec::with_capacity(set.rx_infos.len());
        for rx in set.rx_infos.drain(..) {
            let known = match rx.gateway_id.parse::<Eui64>() {
                Ok(id) => self.cache.gateway_known(&self.storage, id).await,
                Err(_) => false,
            };
            if known {
                kept.push(rx);
            } else {
                self.counters
                    .bump(&self.counters.unknown_gateway_receptions);
                debug!(
                    gateway_id = rx.gateway_id,
                    "reception by an unknown gateway dropped"
                );
            }
        }
        if kept.is_empty() {
            return None;
        }
        set.rx_infos = kept;
        Some(set)
    }

    /// A gateway's statistics: when it was heard, its metadata and
    /// position, and its frame counts and duty-cycle load
    /// ([`crate::metrics`]).
    async fn handle_stats(&self, region: &str, gateway_id: Eui64, stats: &gw::GatewayStats) {
        self.counters.bump(&self.counters.gateway_stats);
        let now = self.settings.clock.now();
        let metadata: crate::model::Tags = stats
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let location = stats
            .location
            .as_ref()
            .filter(|l| l.latitude.is_finite() && l.longitude.is_finite() && l.altitude.is_finite())
            .filter(|l| (l.latitude, l.longitude) != (0.0, 0.0))
            .map(|l| (l.latitude, l.longitude, l.altitude as f32));
        match self
            .storage
            .update_gateway_from_stats(gateway_id, now, &metadata, location)
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound(_)) => {
                self.counters.bump(&self.counters.unknown_gateway_stats);
                debug!(%gateway_id, "stats of an unknown gateway ignored");
                return;
            }
            Err(error) => {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%gateway_id, %error, "gateway stats not stored");
                return;
            }
        }
        let params = self.settings.regions.get(region).map(|r| r.network.params);
        let series = [
            (
                metrics::gateway_key(gateway_id),
                metrics::gateway_samples(params, stats),
            ),
            (
                metrics::duty_cycle_key(gateway_id),
                metrics::duty_cycle_samples(stats),
            ),
        ];
        for (owner, samples) in series {
            if samples.is_empty() {
                continue;
            }
            if let Err(error) = self.storage.add_metrics(&owner, now, &samples).await {
                self.counters.bump(&self.counters.storage_errors);
                warn!(%gateway_id, %error, "gateway metrics not stored");
            }
        }
    }

    fn expire_pending(&self, now: tokio::time::Instant) {
        if let Ok(mut pending) = self.pending.lock() {
            let before = pending.len();
            pending.retain(|_, p| now.duration_since(p.sent_at) < TX_ACK_TTL);
            let expired = before - pending.len();
            for _ in 0..expired {
                self.counters.bump(&self.counters.tx_ack_timeouts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A backend serving one gateway id (or any), counting what it sent.
    struct Fake {
        serves: Option<&'static str>,
        sent: AtomicUsize,
    }

    impl DownlinkSender for Fake {
        fn send_downlink(
            &self,
            _frame: &gw::DownlinkFrame,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.sent.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn serves(&self, gateway_id: &str) -> bool {
            self.serves.is_none_or(|id| id == gateway_id)
        }
    }

    #[test]
    fn first_of_sends_through_the_first_backend_serving_the_gateway() {
        let udp = Arc::new(Fake {
            serves: Some("0101010101010101"),
            sent: AtomicUsize::new(0),
        });
        let mqtt = Arc::new(Fake {
            serves: None,
            sent: AtomicUsize::new(0),
        });
        let both = FirstOf(vec![udp.clone(), mqtt.clone()]);
        let frame = |id: &str| gw::DownlinkFrame {
            gateway_id: id.into(),
            ..Default::default()
        };
        both.send_downlink(&frame("0101010101010101")).unwrap();
        both.send_downlink(&frame("0202020202020202")).unwrap();
        assert_eq!(udp.sent.load(Ordering::Relaxed), 1);
        assert_eq!(mqtt.sent.load(Ordering::Relaxed), 1);

        let udp_only = FirstOf(vec![udp.clone()]);
        assert!(!udp_only.serves("0202020202020202"));
        assert!(udp_only.send_downlink(&frame("0202020202020202")).is_err());
        assert_eq!(udp.sent.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn latency_histogram_is_cumulative_by_bucket() {
        let h = LatencyHistogram::default();
        for ms in [100, 204, 205, 260, 9_000] {
            h.observe(Duration::from_millis(ms));
        }
        let (buckets, count, sum) = h.cumulative();
        assert_eq!(count, 5);
        assert!((sum - 9.769).abs() < 1e-9);
        let at = |le: u64| buckets.iter().find(|(b, _)| *b == le).unwrap().1;
        assert_eq!(at(205), 2);
        assert_eq!(at(210), 3);
        assert_eq!(at(300), 4);
        // Beyond the last bucket: only in the count (the +Inf bucket).
        assert_eq!(at(5000), 4);
    }
}
