//! The end-to-end harness: simulated devices ([`super::device`]), fake
//! gateways and the network server's [`Pipeline`] over a private in-memory
//! SQLite database, in one process.
//!
//! device → [`Harness::send`] (one `GatewayEvent::Up` per gateway hearing
//! the frame) → pipeline → [`FakeGateway`] (a [`DownlinkSender`] recording
//! the `gw::DownlinkFrame`s) → [`Harness::downlink`] → device, and the
//! gateway's TX ack back with [`Harness::ack`]. Application events arrive
//! through a [`ChannelSink`].
//!
//! **Simulated time.** A harness runs on tokio's paused clock: once the
//! fixtures are stored, [`Harness::with_config`] pauses it, and from then
//! on time moves only when every task waits — then the runtime jumps to
//! the next timer (auto-advance). The de-duplication window, the
//! application's moment to enqueue, the scheduler's interval, the class C
//! locks and TX-ack expiry run at their production lengths and cost no
//! real time, and a test can assert when, in simulated time, something
//! happened. The pipeline reads the time of day from the same clock
//! ([`Clock::runtime`]). SQLite works on a thread of its own, which tokio
//! cannot see: [`HoldWhileBusy`] keeps the clock still while a connection
//! is in use, or a query would look like idleness and let time jump.
//!
//! Every wait is bounded by [`WAIT`] of simulated time: a test that
//! expects something that never comes fails instead of hanging.
//!
//! Included by path (`#[path = "support/harness.rs"] mod harness;`), after
//! `device` and `fixtures`.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lorawan::Eui64;
use lorawan::keys::{AppKey, NwkKey};
use lorawan::region::{Region, Revision};
use ns_core::config::Config;
use ns_core::gateway_backend::GatewayEvent;
use ns_core::integration::{Event, EventKind};
use ns_core::model::{
    Application, Device, DeviceKeys, DeviceProfile, DeviceSession, Gateway, MacVersion, QueueItem,
    Tenant,
};
use ns_core::pipeline::{
    ChannelSink, Clock, DownlinkSender, Input, Pipeline, PipelineHandle, PipelineSettings,
};
use ns_core::storage::{PoolObserver, Storage, StorageOptions};
use packet_forwarder::gw::{self, Encoding};
use tokio::sync::mpsc;

use super::device::{self, Sent};

/// The longest a test waits for an event or a downlink (simulated).
pub const WAIT: Duration = Duration::from_secs(30);
/// How long a test watches for something that must not happen (simulated).
pub const QUIET: Duration = Duration::from_secs(3);
/// The de-duplication window the harness configures (the default).
pub const DEDUPLICATION_DELAY: Duration = Duration::from_millis(200);
/// The application's window to enqueue, after the `up` event (the default).
pub const GET_DOWNLINK_DATA_DELAY: Duration = Duration::from_millis(100);

/// Keeps tokio's paused clock from jumping while the database works: each
/// connection taken starts a blocking task (which holds auto-advance off on
/// a current-thread runtime) that lives until every connection of the pool
/// is idle again — given back, and checked by the pool on its way back.
#[derive(Debug, Default)]
pub struct HoldWhileBusy(Arc<OnceLock<Storage>>);

impl HoldWhileBusy {
    /// Starts holding for `storage`'s pool (connections taken before are
    /// not held for).
    fn watch(&self, storage: &Storage) {
        let _ = self.0.set(storage.clone());
    }
}

impl PoolObserver for HoldWhileBusy {
    fn taken(&self) {
        let Some(storage) = self.0.get().cloned() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            loop {
                std::thread::sleep(Duration::from_micros(50));
                let pool = storage.connections();
                if pool.idle >= pool.open as usize {
                    return;
                }
            }
        });
    }
}

/// A gateway of the network, as the radio side of the harness: it hands
/// the pipeline's downlinks to the test.
#[derive(Debug)]
pub struct FakeGateway {
    frames: mpsc::UnboundedSender<gw::DownlinkFrame>,
    sent: Mutex<Vec<gw::DownlinkFrame>>,
}

impl DownlinkSender for FakeGateway {
    fn send_downlink(
        &self,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(frame.clone());
        }
        self.frames
            .send(frame.clone())
            .map_err(|_| "the test is gone".into())
    }
}

/// A reception of an uplink by one gateway.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heard<'a> {
    pub gateway_id: &'a str,
    pub snr: f32,
    pub rssi: i32,
}

/// Heard by `gateway_id` with a good link (SNR 10 dB, RSSI −60 dBm).
pub fn heard(gateway_id: &str) -> Heard<'_> {
    Heard {
        gateway_id,
        snr: 10.0,
        rssi: -60,
    }
}

/// The harness of one test.
pub struct Harness {
    pub storage: Storage,
    pub handle: PipelineHandle,
    pub tenant: Tenant,
    pub application: Application,
    pub gateway: Arc<FakeGateway>,
    input: mpsc::Sender<Input>,
    events: mpsc::Receiver<Event>,
    /// Events received while waiting for another kind.
    backlog: VecDeque<Event>,
    downlinks: mpsc::UnboundedReceiver<gw::DownlinkFrame>,
    uplink_id: u32,
}

/// The configuration every harness starts from; `extra` TOML goes over it.
pub fn config(extra: &str) -> Config {
    let base = format!(
        "[network]\nnet_id = \"000013\"\nenabled_regions = [\"eu868\"]\n\
         deduplication_delay = \"{}ms\"\nget_downlink_data_delay = \"{}ms\"\n",
        DEDUPLICATION_DELAY.as_millis(),
        GET_DOWNLINK_DATA_DELAY.as_millis(),
    );
    Config::from_toml_strs(&[&base, extra]).expect("the harness configuration loads")
}

impl Harness {
    /// A pipeline with the default harness configuration and gateways
    /// GW1, GW2 and GW3.
    pub async fn start() -> Self {
        Self::with_config(&config("")).await
    }

    /// A pipeline with `config` and gateways GW1, GW2 and GW3.
    pub async fn with_config(config: &Config) -> Self {
        let hold = Arc::new(HoldWhileBusy::default());
        let options = StorageOptions::default().observer(hold.clone());
        let storage = Storage::connect_with("sqlite::memory:", &options)
            .await
            .expect("in-memory SQLite");
        hold.watch(&storage);
        let (tenant, application) = Self::seed(&storage).await;
        // Connected and seeded: from here on, simulated time.
        tokio::time::pause();
        Self::start_on(config, storage, tenant, application, None)
    }

    /// What every harness's storage holds: a tenant, its application and
    /// gateways GW1, GW2 and GW3.
    pub async fn seed(storage: &Storage) -> (Tenant, Application) {
        let tenant = Tenant::new("tenant");
        storage.create_tenant(&tenant).await.expect("tenant");
        let application = Application::new(tenant.id, "application");
        storage
            .create_application(&application)
            .await
            .expect("application");
        for id in [
            super::fixtures::GW1,
            super::fixtures::GW2,
            super::fixtures::GW3,
        ] {
            let gateway = Gateway::new(id.parse().expect("gateway id"), tenant.id, id);
            storage.create_gateway(&gateway).await.expect("gateway");
        }
        (tenant, application)
    }

    /// A pipeline over `storage` (seeded with [`seed`](Self::seed)),
    /// sharing `shared_state` with other pipelines when given: one of
    /// several server instances. Time is simulated only if the caller
    /// paused tokio's clock (as [`with_config`](Self::with_config) does);
    /// a pipeline that talks to Redis needs the real one.
    pub fn start_on(
        config: &Config,
        storage: Storage,
        tenant: Tenant,
        application: Application,
        shared_state: Option<ns_core::shared_state::SharedState>,
    ) -> Self {
        let mut settings = PipelineSettings::from_config(config).expect("pipeline settings");
        settings.clock = Clock::runtime();
        let (sink, events) = ChannelSink::new(1024);
        let (frames, downlinks) = mpsc::unbounded_channel();
        let gateway = Arc::new(FakeGateway {
            frames,
            sent: Mutex::new(Vec::new()),
        });
        let mut pipeline = Pipeline::new(settings, storage.clone());
        pipeline.add_event_sink(Arc::new(sink));
        pipeline.add_downlink_sender("eu868", gateway.clone());
        if let Some(state) = shared_state {
            pipeline.set_shared_state(state);
        }
        let handle = pipeline.start();
        let input = handle.input();
        Self {
            storage,
            handle,
            tenant,
            application,
            gateway,
            input,
            events,
            backlog: VecDeque::new(),
            downlinks,
            uplink_id: 0,
        }
    }

    /// A device profile of the tenant for `version` in EU868 (OTAA).
    pub async fn profile(&self, version: MacVersion) -> DeviceProfile {
        let revision = Revision::Rp002_1_0_3;
        let mut profile =
            DeviceProfile::new(self.tenant.id, "profile", Region::Eu868, version, revision);
        profile.region_config_id = "eu868".into();
        self.storage
            .create_device_profile(&profile)
            .await
            .expect("device profile");
        profile
    }

    /// Stores an OTAA device with its root keys; returns its record.
    pub async fn provision_otaa(
        &self,
        device: &device::Device,
        nwk_key: [u8; 16],
        app_key: [u8; 16],
    ) -> Device {
        let profile = self.profile(device.version).await;
        let mut record = Device::new(device.dev_eui, self.application.id, profile.id, "device");
        record.join_eui = device.join_eui;
        self.storage.create_device(&record).await.expect("device");
        let keys = DeviceKeys::new(
            device.dev_eui,
            NwkKey::from_be_bytes(nwk_key),
            AppKey::from_be_bytes(app_key),
        );
        self.storage.create_device_keys(&keys).await.expect("keys");
        record
    }

    /// Stores an ABP device (profile without OTAA) with `session`.
    pub async fn provision_abp(&self, device: &device::Device, session: &DeviceSession) -> Device {
        let mut profile = DeviceProfile::new(
            self.tenant.id,
            "abp",
            Region::Eu868,
            device.version,
            Revision::Rp002_1_0_3,
        );
        profile.supports_otaa = false;
        profile.region_config_id = "eu868".into();
        self.storage
            .create_device_profile(&profile)
            .await
            .expect("device profile");
        let record = Device::new(
            device.dev_eui,
            self.application.id,
            profile.id,
            "abp device",
        );
        self.storage.create_device(&record).await.expect("device");
        self.storage
            .set_session(device.dev_eui, Some(session))
            .await
            .expect("session");
        self.storage
            .get_device(device.dev_eui)
            .await
            .expect("device")
    }

    /// What each gateway in `heard` reports of `sent`, in order.
    pub async fn send(&mut self, sent: &Sent, heard: &[Heard<'_>]) {
        for h in heard {
            self.send_raw(&sent.phy_payload, sent.tx_info(), *h).await;
        }
    }

    /// One gateway's report of arbitrary bytes.
    pub async fn send_raw(&mut self, phy_payload: &[u8], tx_info: gw::UplinkTxInfo, h: Heard<'_>) {
        self.uplink_id += 1;
        let frame = gw::UplinkFrame {
            phy_payload: phy_payload.to_vec(),
            tx_info: Some(tx_info),
            rx_info: Some(gw::UplinkRxInfo {
                gateway_id: h.gateway_id.into(),
                uplink_id: self.uplink_id,
                rssi: h.rssi,
                snr: h.snr,
                context: self.uplink_id.to_be_bytes().to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let event = GatewayEvent::Up {
            gateway_id: h.gateway_id.parse::<Eui64>().expect("gateway id"),
            frame,
            encoding: Encoding::Protobuf,
        };
        self.input
            .send(Input {
                region_config_id: "eu868".into(),
                event,
            })
            .await
            .expect("the pipeline takes input");
    }

    /// The gateway's TX ack: `statuses` per item (RX1 first).
    pub async fn ack_with(&mut self, frame: &gw::DownlinkFrame, statuses: &[gw::TxAckStatus]) {
        let ack = gw::DownlinkTxAck {
            gateway_id: frame.gateway_id.clone(),
            downlink_id: frame.downlink_id,
            items: statuses
                .iter()
                .map(|s| gw::DownlinkTxAckItem {
                    status: (*s).into(),
                })
                .collect(),
            ..Default::default()
        };
        self.input
            .send(Input {
                region_config_id: "eu868".into(),
                event: GatewayEvent::Ack {
                    gateway_id: frame.gateway_id.parse().expect("gateway id"),
                    ack,
                },
            })
            .await
            .expect("the pipeline takes input");
    }

    /// Statistics from gateway `gateway_id`.
    pub async fn stats(&mut self, gateway_id: &str, stats: gw::GatewayStats) {
        self.input
            .send(Input {
                region_config_id: "eu868".into(),
                event: GatewayEvent::Stats {
                    gateway_id: gateway_id.parse().expect("gateway id"),
                    stats,
                },
            })
            .await
            .expect("the pipeline takes input");
    }

    /// The gateway sent RX1.
    pub async fn ack(&mut self, frame: &gw::DownlinkFrame) {
        self.ack_with(frame, &[gw::TxAckStatus::Ok]).await;
    }

    /// The next downlink handed to the gateway.
    pub async fn downlink(&mut self) -> gw::DownlinkFrame {
        tokio::time::timeout(WAIT, self.downlinks.recv())
            .await
            .expect("a downlink within the wait")
            .expect("the gateway channel is open")
    }

    /// The next downlink if one comes within [`QUIET`].
    pub async fn maybe_downlink(&mut self) -> Option<gw::DownlinkFrame> {
        tokio::time::timeout(QUIET, self.downlinks.recv())
            .await
            .ok()
            .flatten()
    }

    /// Fails if a downlink comes within [`QUIET`].
    pub async fn no_downlink(&mut self) {
        if let Ok(Some(frame)) = tokio::time::timeout(QUIET, self.downlinks.recv()).await {
            panic!("no downlink expected, got {frame:?}");
        }
    }

    /// The next event of `kind`; events of other kinds received meanwhile
    /// are kept for later.
    pub async fn event(&mut self, kind: EventKind) -> Event {
        if let Some(at) = self.backlog.iter().position(|e| e.kind() == kind) {
            return self.backlog.remove(at).expect("position is in range");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {kind} event within {WAIT:?}; other events: {:?}; counters: {:?}",
                        self.backlog.iter().map(Event::kind).collect::<Vec<_>>(),
                        self.handle
                            .counters()
                            .snapshot()
                            .into_iter()
                            .filter(|(_, _, n)| *n > 0)
                            .map(|(name, _, n)| (name, n))
                            .collect::<Vec<_>>()
                    )
                })
                .expect("the event channel is open");
            if event.kind() == kind {
                return event;
            }
            self.backlog.push_back(event);
        }
    }

    /// Every event received so far or within [`QUIET`], drained.
    pub async fn quiet_events(&mut self) -> Vec<Event> {
        let mut out: Vec<Event> = self.backlog.drain(..).collect();
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            out.push(event);
        }
        out
    }

    /// The `up` event.
    pub async fn up(&mut self) -> ns_core::integration::UplinkEvent {
        match self.event(EventKind::Up).await {
            Event::Up(e) => e,
            other => unreachable!("{other:?}"),
        }
    }

    /// The session in storage.
    pub async fn session(&self, dev_eui: Eui64) -> DeviceSession {
        self.storage
            .get_device(dev_eui)
            .await
            .expect("device")
            .session
            .expect("a session")
    }

    /// The session in storage once `ready` holds of it (the TX ack is
    /// handled in the background).
    pub async fn session_where(
        &self,
        dev_eui: Eui64,
        ready: impl Fn(&DeviceSession) -> bool,
    ) -> DeviceSession {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let session = self.session(dev_eui).await;
            if ready(&session) {
                return session;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the session never got there: {session:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Enqueues application data for the device.
    pub async fn enqueue(
        &self,
        dev_eui: Eui64,
        f_port: u8,
        confirmed: bool,
        data: &[u8],
    ) -> QueueItem {
        let item = QueueItem::new(dev_eui, f_port, confirmed, data.to_vec());
        self.storage.enqueue(&item).await.expect("enqueue");
        item
    }

    /// OTAA: the join-request heard by GW1, the `join` event, the
    /// join-accept read by the device in RX1 and acknowledged by the
    /// gateway.
    pub async fn join(
        &mut self,
        device: &mut device::Device,
        dev_nonce: u16,
    ) -> device::JoinAcceptInfo {
        let sent = device.join_request(dev_nonce);
        self.send(&sent, &[heard(super::fixtures::GW1)]).await;
        let frame = self.downlink().await;
        let info = device
            .join_accept(&frame)
            .unwrap_or_else(|e| panic!("the device takes the join-accept: {e}"));
        self.ack(&frame).await;
        match self.event(EventKind::Join).await {
            Event::Join(join) => assert_eq!(join.dev_addr, info.dev_addr.to_string()),
            other => unreachable!("{other:?}"),
        }
        info
    }

    /// A data uplink heard by `heard`, until its `up` event.
    pub async fn uplink(
        &mut self,
        device: &mut device::Device,
        up: &device::Up,
        heard: &[Heard<'_>],
    ) -> (Sent, ns_core::integration::UplinkEvent) {
        let sent = device.uplink(up);
        self.send(&sent, heard).await;
        let event = self.up().await;
        (sent, event)
    }

    /// The downlink answering the last uplink, read by the device and
    /// acknowledged by the gateway (RX1 sent).
    pub async fn receive(
        &mut self,
        device: &mut device::Device,
    ) -> (gw::DownlinkFrame, device::Downlink) {
        let frame = self.downlink().await;
        let downlink = device
            .receive(&frame)
            .unwrap_or_else(|e| panic!("the device reads the downlink: {e}\n{frame:?}"));
        self.ack(&frame).await;
        (frame, downlink)
    }
}
