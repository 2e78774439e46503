//! Data downlinks answering an uplink (class A) or sent at once to a
//! listening device ([`class_c_downlink`]), and the gateway's TX ack of
//! them, with no I/O.
//!
//! After a data uplink is accepted, and the application has had its
//! moment to enqueue data, the driver calls [`class_a_response`] with the
//! uplink ([`UplinkContext`]), the session as the MAC-command logic left it,
//! the device queue, the MAC commands to send (already encoded, chosen to
//! fit [`PlannedWindow::max_payload`] of the first window) and whether a
//! downlink is owed even if empty. It gets back a [`ClassAResponse`]: the
//! queue items to drop and why, and maybe a [`DownlinkPlan`] — the
//! `gw.DownlinkFrame` to publish and the [`TxAckContext`] to keep until the
//! gateway's `ack` event, which [`handle_tx_ack`] turns into counters to
//! advance, a queue change and the `txack` or `log` event.
//!
//! The rules are ChirpStack's (`downlink/data.rs`, `downlink/tx_ack.rs`):
//! - **Gateway**: among the receptions of this uplink, by link margin then
//!   RSSI; at random (weighted by receptions) among those with at least
//!   `gateway_prefer_min_margin` dB of margin, else the best
//!   ([`select_downlink_gateway`]).
//! - **Windows** ([`plan_windows`]): RX1 (the region's RX1 frequency and
//!   data-rate table, the session's RX1DROffset, RxDelay) then RX2 (the
//!   session's RX2 frequency and data rate, RxDelay + 1 s), or only one of
//!   them ([`RxWindowSelection`]). With both, RX2 goes first when the
//!   device already uses the network's RX settings and RX1's data rate is
//!   below `rx2_prefer_on_rx1_dr_lt`, or, with `rx2_prefer_on_link_budget`,
//!   when RX2's link budget is larger. Each window's payload limit is the
//!   region's N for its data rate (dwell time and repeater tables
//!   included). Every alternative is a complete frame of its own.
//! - **Queue** ([`ClassARequest::queue`]): a pending confirmed item past its
//!   timeout (or with none: the device's uplink did not acknowledge it) is
//!   dropped, to be reported as an `ack` event with `acknowledged = false`;
//!   one still within its timeout blocks the queue. Expired items (log code
//!   `EXPIRED`) and items larger than the first window's limit
//!   (`DOWNLINK_PAYLOAD_SIZE`) are dropped. The first item left is sent.
//! - **Frame**: MAC commands go first, up to the window's limit; more than
//!   15 bytes go in the FRMPayload on FPort 0 (under NwkSEncKey) and the
//!   queue item waits, otherwise they go in FOpts and the queue item follows
//!   if it still fits (FPending when it does not). FCtrl.ACK answers a
//!   confirmed uplink; FCtrl.ADR is set unless ADR is disabled; FPending
//!   when more queue items wait. A confirmed item is a ConfirmedDataDown.
//! - **Counters**: LoRaWAN 1.0 uses NFCntDown for everything; 1.1 uses
//!   AFCntDown for application data and NFCntDown otherwise. The plan only
//!   uses them: the TX ack advances the one actually sent
//!   ([`Transmitted::apply`]).
//! - Nothing to send — no queue item, no MAC command, no ACK owed, no
//!   downlink required (`must_send`, ADRACKReq) — gives no plan.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use lorawan::phy::{DataFrame, MType};
//! use lorawan::region::{Region, RegionConfig, Revision};
//! use lorawan::Eui64;
//! use ns_core::downlink::{self, ClassARequest, DownlinkSettings, TxAckOutcome, UplinkContext};
//! use ns_core::model::{DeviceClass, DeviceProfile, DeviceSession, MacVersion, QueueItem};
//! use packet_forwarder::gw;
//! use rand::{SeedableRng, rngs::StdRng};
//! use uuid::Uuid;
//!
//! let network = RegionConfig {
//!     id: "eu868".into(),
//!     common_name: Some(Region::Eu868),
//!     ..Default::default()
//! }
//! .resolve()?;
//! let profile = DeviceProfile::new(
//!     Uuid::nil(), "sensors", Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_3,
//! );
//! // A LoRaWAN 1.0.3 session, as storage reads it.
//! let mut session: DeviceSession = serde_json::from_value(serde_json::json!({
//!     "dev_addr": "26011234", "mac_version": "1.0.3",
//!     "f_nwk_s_int_key": "01010101010101010101010101010101",
//!     "s_nwk_s_int_key": "01010101010101010101010101010101",
//!     "nwk_s_enc_key": "01010101010101010101010101010101",
//!     "app_s_key": "02020202020202020202020202020202",
//!     "f_cnt_up": 11, "n_f_cnt_down": 5, "a_f_cnt_down": 0, "conf_f_cnt": 0,
//!     "rx1_delay": 1, "rx1_dr_offset": 0, "rx2_dr": 0, "rx2_frequency": 869525000,
//!     "enabled_uplink_channel_indices": [0, 1, 2], "extra_uplink_channels": [],
//!     "adr": true, "dr": 5, "tx_power_index": 0, "nb_trans": 1,
//!     "max_supported_tx_power_index": 0, "uplink_adr_history": [],
//!     "mac_command_pending": [], "mac_command_error_count": {},
//!     "last_device_status_request": null, "region_config_id": "eu868",
//!     "uplink_dwell_time_400ms": false, "downlink_dwell_time_400ms": false,
//!     "uplink_max_eirp_index": 0
//! }))?;
//!
//! // A confirmed uplink (FCnt 10, SF7 on 868.1 MHz) heard by one gateway.
//! let rx_infos = [gw::UplinkRxInfo {
//!     gateway_id: "0101010101010101".into(),
//!     snr: 7.0,
//!     rssi: -60,
//!     context: vec![1, 2, 3, 4],
//!     ..Default::default()
//! }];
//! let uplink = UplinkContext {
//!     dev_eui: Eui64::from_u64(1),
//!     device_class: DeviceClass::A,
//!     f_cnt: 10,
//!     dr: 5,
//!     frequency: 868_100_000,
//!     confirmed: true,
//!     adr_ack_req: false,
//!     rx_infos: &rx_infos,
//! };
//! let queue = [QueueItem::new(Eui64::from_u64(1), 10, false, b"on".to_vec())];
//! let request = ClassARequest {
//!     uplink,
//!     session: &session,
//!     profile: &profile,
//!     network: &network,
//!     settings: &DownlinkSettings::default(),
//!     queue: &queue,
//!     mac_commands: vec![0x06], // DevStatusReq
//!     must_send: false,
//! };
//! let now = SystemTime::now();
//! let mut rng = StdRng::seed_from_u64(1);
//! let response = downlink::class_a_response(now, &request, &mut rng)?;
//! assert!(response.discarded.is_empty());
//! let plan = response.plan.expect("an item, a MAC command and an ACK to send");
//!
//! // RX1 on the uplink's channel at DR5, then RX2 at 869.525 MHz DR0.
//! assert_eq!(plan.frame.gateway_id, "0101010101010101");
//! let [rx1, rx2] = &plan.frame.items[..] else { unreachable!() };
//! assert_eq!(rx1.tx_info.as_ref().unwrap().frequency, 868_100_000);
//! assert_eq!(rx2.tx_info.as_ref().unwrap().frequency, 869_525_000);
//! let frame = DataFrame::new_checked(&rx1.phy_payload)?;
//! assert_eq!(frame.mhdr().mtype(), MType::UnconfirmedDataDown);
//! assert!(frame.fctrl().ack());
//! assert_eq!((frame.fcnt(), frame.fport(), frame.fopts()), (5, Some(10), &[0x06][..]));
//!
//! // The gateway sent RX1: NFCntDown advances, the item is to be deleted.
//! let ack = gw::DownlinkTxAck {
//!     downlink_id: plan.frame.downlink_id,
//!     items: vec![gw::DownlinkTxAckItem { status: gw::TxAckStatus::Ok.into() }],
//!     ..Default::default()
//! };
//! let TxAckOutcome::Transmitted(sent) = downlink::handle_tx_ack(now, &plan.tx_ack, &ack)? else {
//!     unreachable!()
//! };
//! sent.apply(&mut session);
//! assert_eq!(session.n_f_cnt_down, 6);
//! assert!(sent.event.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod class_c;
mod frame;
mod gateway;
mod tx_ack;

pub use class_c::{ClassCRequest, ClassCResponse, class_c_downlink};

pub use gateway::{GatewayCandidate, rank_gateways, select_downlink_gateway};

use crate::adr::required_snr;
pub use tx_ack::{
    FCntDownCounter, PlannedItem, QueueUpdate, SentQueueItem, Transmitted, TxAckContext,
    TxAckError, TxAckEvent, TxAckOutcome, TxFailure, handle_tx_ack,
};

pub use crate::join::RxWindowSelection;

use std::time::{Duration, SystemTime};

use lorawan::Eui64;
use lorawan::modulation::Modulation;
use lorawan::phy::{FCtrl, FrameError, MType};
use lorawan::region::{Network, RegionParams};
use packet_forwarder::gw;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::downlink_timing::{self, RxWindow, TxInfoError};
use crate::model::{DeviceClass, DeviceProfile, DeviceSession, QueueItem};
use crate::uplink::DataUplink;

/// The FPort of TS011 relay messages, whose payload a queue item cannot
/// carry under the AppSKey.
const RELAY_FPORT: u8 = 226;

/// FOpts holds at most 15 bytes.
const MAX_F_OPTS_LEN: usize = 15;

/// Network settings of data downlinks that are not in the region
/// configuration: ChirpStack's `[regions.network]` keys of the same names.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct DownlinkSettings {
    /// The receive windows offered (`rx_window`: 0 both, 1 RX1, 2 RX2).
    pub rx_window: RxWindowSelection,
    /// RX2 goes first when RX1's data rate is below this (0: never).
    pub rx2_prefer_on_rx1_dr_lt: u8,
    /// RX2 goes first when its link budget is larger than RX1's.
    pub rx2_prefer_on_link_budget: bool,
    /// The link margin, dB, above which any gateway may send
    /// ([`select_downlink_gateway`]).
    pub gateway_prefer_min_margin: f32,
    /// The downlink EIRP, dBm; `None`: the region's default (ChirpStack's
    /// `downlink_tx_power = -1`).
    pub downlink_tx_power: Option<i32>,
    /// ADR is off in the network: FCtrl.ADR is cleared.
    pub adr_disabled: bool,
}

impl Default for DownlinkSettings {
    /// ChirpStack's defaults: both windows, no RX2 preference, 10 dB.
    fn default() -> Self {
        Self {
            rx_window: RxWindowSelection::Both,
            rx2_prefer_on_rx1_dr_lt: 0,
            rx2_prefer_on_link_budget: false,
            gateway_prefer_min_margin: 10.0,
            downlink_tx_power: None,
            adr_disabled: false,
        }
    }
}

/// What a class A response needs of the uplink it answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UplinkContext<'a> {
    /// The device.
    pub dev_eui: Eui64,
    /// The class the device runs: a confirmed item sent to a class C device
    /// times out after the profile's `class_c_timeout`.
    pub device_class: DeviceClass,
    /// The uplink's full FCnt (acknowledged in the 1.1 downlink MIC).
    pub f_cnt: u32,
    /// Its data rate.
    pub dr: u8,
    /// Its frequency, Hz.
    pub frequency: u32,
    /// A ConfirmedDataUp: the downlink carries FCtrl.ACK.
    pub confirmed: bool,
    /// FCtrl.ADRACKReq: a downlink is owed even if empty.
    pub adr_ack_req: bool,
    /// The gateways' receptions of this uplink, private gateways of other
    /// tenants already left out.
    pub rx_infos: &'a [gw::UplinkRxInfo],
}

impl<'a> From<&'a DataUplink> for UplinkContext<'a> {
    fn from(up: &'a DataUplink) -> Self {
        Self {
            dev_eui: up.device.dev_eui,
            device_class: up.device.enabled_class,
            f_cnt: up.f_cnt,
            dr: up.tx_params.dr,
            frequency: up.tx_info.frequency,
            confirmed: up.confirmed,
            adr_ack_req: up.adr_ack_req,
            rx_infos: &up.rx_infos,
        }
    }
}

/// Everything [`class_a_response`] reads.
#[derive(Debug, Clone)]
pub struct ClassARequest<'a> {
    /// The uplink answered.
    pub uplink: UplinkContext<'a>,
    /// The device's session after the uplink and its MAC commands.
    pub session: &'a DeviceSession,
    /// The device's profile (its Regional Parameters revision sets the
    /// payload limits).
    pub profile: &'a DeviceProfile,
    /// The region configuration the session belongs to.
    pub network: &'a Network,
    /// The downlink settings of that region configuration.
    pub settings: &'a DownlinkSettings,
    /// The device's queue, oldest first (`created_at` order), with a
    /// confirmed item the uplink acknowledged already removed. FPending is
    /// set when items wait after the one sent, so pass at least two items
    /// when there are.
    pub queue: &'a [QueueItem],
    /// MAC commands to send, encoded (CID and payload each), in order.
    /// Commands that do not fit a window are left out of it, whole.
    pub mac_commands: Vec<u8>,
    /// A downlink is required even if empty (an answer such as
    /// RXTimingSetupAns expects one). ADRACKReq and a confirmed uplink
    /// require one anyway.
    pub must_send: bool,
}

/// Which receive window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Window {
    /// RX1.
    Rx1,
    /// RX2.
    Rx2,
}

/// A receive window the downlink is offered in, and what it can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedWindow {
    /// Which window.
    pub window: Window,
    /// Frequency, data rate and delay.
    pub rx: RxWindow,
    /// The largest FRMPayload with empty FOpts at the window's data rate (the
    /// region's N); MAC commands in FOpts take from it.
    pub max_payload: usize,
}

/// A queue item to be deleted without being sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscardedItem {
    /// The item.
    pub id: Uuid,
    /// The FCntDown it was sent with, if it was.
    pub f_cnt_down: Option<u32>,
    /// Why.
    pub reason: DiscardReason,
}

/// Why a queue item is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscardReason {
    /// A confirmed item was sent and not acknowledged in time: an `ack`
    /// event with `acknowledged = false` follows.
    NotAcknowledged,
    /// Its `expires_at` has passed.
    Expired {
        /// When it expired.
        expires_at: SystemTime,
    },
    /// It is larger than the first receive window can carry.
    PayloadSize {
        /// The window's limit, bytes.
        max_payload_size: usize,
        /// The item's size.
        item_size: usize,
    },
    /// Its FPort cannot carry application data (0, 226): the API refuses
    /// these, so storage was changed behind its back.
    InvalidFPort(u8),
}

impl DiscardReason {
    /// The `LogCode` of the `log` event ChirpStack sends for this reason:
    /// `EXPIRED`, `DOWNLINK_PAYLOAD_SIZE`; `None` for an unacknowledged
    /// item (an `ack` event instead) and an invalid FPort (logged by the
    /// server only).
    pub const fn log_code(&self) -> Option<&'static str> {
        match self {
            Self::Expired { .. } => Some("EXPIRED"),
            Self::PayloadSize { .. } => Some("DOWNLINK_PAYLOAD_SIZE"),
            Self::NotAcknowledged | Self::InvalidFPort(_) => None,
        }
    }

    /// A description for the event or the log.
    pub fn description(&self) -> String {
        match self {
            Self::NotAcknowledged => "Device queue-item discarded because of timeout".into(),
            Self::Expired { .. } => "Device queue-item discarded because it has expired".into(),
            Self::PayloadSize {
                max_payload_size,
                item_size,
            } => format!(
                "Device queue-item discarded because it exceeds the max. payload size \
                 ({item_size} > {max_payload_size} bytes)"
            ),
            Self::InvalidFPort(p) => {
                format!("Device queue-item discarded because FPort {p} cannot carry data")
            }
        }
    }
}

/// A downlink to publish, and what its TX ack needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DownlinkPlan {
    /// The frame for `<prefix>/gateway/<gateway_id>/command/down`.
    pub frame: gw::DownlinkFrame,
    /// To keep under `frame.downlink_id` for [`handle_tx_ack`].
    pub tx_ack: TxAckContext,
}

impl DownlinkPlan {
    /// The queue item one of the alternatives carries, if any.
    pub fn queue_item_id(&self) -> Option<Uuid> {
        self.tx_ack
            .items
            .iter()
            .find_map(|i| i.queue_item.map(|q| q.id))
    }
}

/// The outcome of [`class_a_response`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClassAResponse {
    /// The downlink, unless there is nothing to send.
    pub plan: Option<DownlinkPlan>,
    /// Queue items to delete (with their `log` or `ack` event), whether or
    /// not a downlink goes out.
    pub discarded: Vec<DiscardedItem>,
}

/// Why no downlink can be planned: the uplink's metadata or the region
/// configuration has no answer. Nothing is to be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DownlinkError {
    /// No gateway reception to answer through.
    #[error("no gateway heard the uplink: no downlink path")]
    NoGateway,
    /// A receive window cannot be derived.
    #[error("receive window: {0}")]
    TxInfo(#[from] TxInfoError),
    /// The region defines no payload size at a window's data rate.
    #[error("the region defines no maximum payload size at DR{dr}")]
    NoMaxPayload {
        /// The data rate.
        dr: u8,
    },
    /// The frame cannot be written (a bug: every input is checked before).
    #[error("building the downlink frame: {0}")]
    Frame(#[from] FrameError),
}

/// The receive windows a class A downlink is offered in, in the order the
/// gateway tries them, with their payload limits.
///
/// The MAC-command logic takes the first window's
/// [`max_payload`](PlannedWindow::max_payload) as its byte budget, since
/// MAC commands go before the queue item.
///
/// Payload limits are those of the profile's Regional Parameters revision;
/// the 400 ms dwell-time table applies when the network or the session has
/// the downlink dwell time on (the stricter wins while a TxParamSetupReq is
/// on its way), the repeater table when the network is repeater-compatible.
///
/// # Errors
///
/// [`DownlinkError::TxInfo`] when the region has no RX1 for the uplink's
/// data rate, frequency and RX1DROffset, [`DownlinkError::NoMaxPayload`]
/// when a window's data rate has no payload limit.
pub fn plan_windows(
    uplink: &UplinkContext<'_>,
    session: &DeviceSession,
    profile: &DeviceProfile,
    network: &Network,
    settings: &DownlinkSettings,
) -> Result<Vec<PlannedWindow>, DownlinkError> {
    let params = network.params;
    let rx1_delay = Duration::from_secs(session.rx1_delay.max(1).into());
    let rx1 = || {
        downlink_timing::rx1_window(
            params,
            uplink.frequency,
            uplink.dr,
            session.rx1_dr_offset,
            session.downlink_dwell_time_400ms,
            rx1_delay,
        )
    };
    let rx2 = RxWindow {
        frequency: session.rx2_frequency,
        dr: session.rx2_dr,
        delay: rx1_delay + Duration::from_secs(1),
    };
    let windows = match settings.rx_window {
        RxWindowSelection::Rx1 => vec![(Window::Rx1, rx1()?)],
        RxWindowSelection::Rx2 => vec![(Window::Rx2, rx2)],
        RxWindowSelection::Both => {
            let rx1 = rx1()?;
            if prefer_rx2(session, network, settings, rx1, rx2) {
                vec![(Window::Rx2, rx2), (Window::Rx1, rx1)]
            } else {
                vec![(Window::Rx1, rx1), (Window::Rx2, rx2)]
            }
        }
    };
    windows
        .into_iter()
        .map(|(window, rx)| {
            Ok(PlannedWindow {
                window,
                rx,
                max_payload: max_payload(session, profile, network, rx.dr)?,
            })
        })
        .collect()
}

/// The largest FRMPayload (empty FOpts) the device receives at `dr`: the
/// region's N for the profile's Regional Parameters revision, with the
/// 400 ms dwell-time table when the network or the session has it on, the
/// repeater table when the network is repeater-compatible.
fn max_payload(
    session: &DeviceSession,
    profile: &DeviceProfile,
    network: &Network,
    dr: u8,
) -> Result<usize, DownlinkError> {
    // The device's Regional Parameters revision sets what it can receive.
    let limits = lorawan::region::params(network.params.region, profile.reg_params_revision);
    let dwell_time = network.downlink_dwell_time_400ms || session.downlink_dwell_time_400ms;
    limits
        .max_payload(dr, dwell_time, network.repeater_compatible)
        .map(|max| max.n.into())
        .ok_or(DownlinkError::NoMaxPayload { dr })
}

/// ChirpStack's RX2 preference, only once the device uses the network's RX
/// settings (until then its RX2 is not where the network would put it).
fn prefer_rx2(
    session: &DeviceSession,
    network: &Network,
    settings: &DownlinkSettings,
    rx1: RxWindow,
    rx2: RxWindow,
) -> bool {
    let settled = session.rx2_frequency == network.rx2_frequency
        && session.rx2_dr == network.rx2_dr
        && session.rx1_dr_offset == network.rx1_dr_offset
        && session.rx1_delay.max(1) == network.rx1_delay;
    if !settled {
        return false;
    }
    if rx1.dr < settings.rx2_prefer_on_rx1_dr_lt {
        return true;
    }
    settings.rx2_prefer_on_link_budget
        && match (
            link_budget(network.params, rx1, settings),
            link_budget(network.params, rx2, settings),
        ) {
            (Some(budget1), Some(budget2)) => budget2 > budget1,
            _ => false,
        }
}

/// The link budget of a LoRa window, dB: EIRP minus the receiver's
/// sensitivity (−174 dBm/Hz + 10·log10(bandwidth) + a 6 dB noise figure +
/// the required SNR). `None` for other modulations.
fn link_budget(
    params: &RegionParams,
    window: RxWindow,
    settings: &DownlinkSettings,
) -> Option<f32> {
    let Modulation::Lora {
        spreading_factor,
        bandwidth,
    } = params.data_rate(window.dr)?.modulation
    else {
        return None;
    };
    let power = settings.downlink_tx_power.unwrap_or_else(|| {
        downlink_timing::default_downlink_tx_power(params.region, window.frequency)
    });
    let sensitivity =
        -174.0 + 10.0 * (bandwidth as f32).log10() + 6.0 + required_snr(spreading_factor)?;
    Some(power as f32 - sensitivity)
}

/// The required SNR of the uplink's data rate, for the gateway margin.
pub(crate) fn uplink_required_snr(params: &RegionParams, dr: u8) -> Option<f32> {
    match params.data_rate(dr)?.modulation {
        Modulation::Lora {
            spreading_factor, ..
        } => required_snr(spreading_factor),
        _ => None,
    }
}

/// The queue item to send (with whether more wait after it) and the items
/// dropped on the way.
fn next_queue_item(
    now: SystemTime,
    queue: &[QueueItem],
    max_payload_size: usize,
) -> (Option<&QueueItem>, bool, Vec<DiscardedItem>) {
    let mut discarded = Vec::new();
    for (i, item) in queue.iter().enumerate() {
        let mut discard = |reason| {
            discarded.push(DiscardedItem {
                id: item.id,
                f_cnt_down: item.f_cnt_down,
                reason,
            });
        };
        if item.is_pending {
            match item.timeout_after {
                // Still waiting for the device's ACK: nothing else goes.
                Some(t) if t > now => return (None, false, discarded),
                _ => discard(DiscardReason::NotAcknowledged),
            }
            continue;
        }
        if let Some(expires_at) = item.expires_at.filter(|&e| e <= now) {
            discard(DiscardReason::Expired { expires_at });
            continue;
        }
        if item.f_port == 0 || item.f_port == RELAY_FPORT {
            discard(DiscardReason::InvalidFPort(item.f_port));
            continue;
        }
        if item.data.len() > max_payload_size {
            discard(DiscardReason::PayloadSize {
                max_payload_size,
                item_size: item.data.len(),
            });
            continue;
        }
        return (Some(item), i + 1 < queue.len(), discarded);
    }
    (None, false, discarded)
}

/// The class A response to an uplink: the queue items to drop and the
/// downlink to send, if there is anything to send. See the
/// [module documentation](self) for the rules.
///
/// `now` decides expiry and timeouts; `rng` picks the gateway among the
/// good ones and the `downlink_id`.
///
/// # Errors
///
/// [`DownlinkError`] when there is something to send but no gateway to send
/// it through, or the windows cannot be derived. Nothing is to be changed
/// then, queue included.
pub fn class_a_response<R: Rng + ?Sized>(
    now: SystemTime,
    request: &ClassARequest<'_>,
    rng: &mut R,
) -> Result<ClassAResponse, DownlinkError> {
    let ClassARequest {
        uplink,
        session,
        profile,
        network,
        settings,
        queue,
        ref mac_commands,
        must_send,
    } = *request;
    let windows = plan_windows(&uplink, session, profile, network, settings)?;
    let first_limit = windows.first().map_or(0, |w| w.max_payload);
    let (item, more_items, discarded) = next_queue_item(now, queue, first_limit);

    let owed = uplink.confirmed || must_send || uplink.adr_ack_req;
    if item.is_none() && mac_commands.is_empty() && !owed {
        return Ok(ClassAResponse {
            plan: None,
            discarded,
        });
    }

    let params = network.params;
    let gateway = select_downlink_gateway(
        uplink.rx_infos,
        uplink_required_snr(params, uplink.dr),
        settings.gateway_prefer_min_margin,
        rng,
    )
    .ok_or(DownlinkError::NoGateway)?;

    let fctrl = FCtrl::default()
        .with_adr(!settings.adr_disabled)
        .with_ack(uplink.confirmed);
    let app_counter = if session.mac_version.is_1_1() {
        FCntDownCounter::Application
    } else {
        FCntDownCounter::Network
    };
    let mut frame_items = Vec::with_capacity(windows.len());
    let mut planned = Vec::with_capacity(windows.len());
    for w in &windows {
        let mac = frame::mac_prefix(mac_commands, w.max_payload);
        let remaining = w.max_payload - mac.len();
        let mac_in_frm_payload = mac.len() > MAX_F_OPTS_LEN;
        // The queue item rides along unless MAC commands took the FRMPayload
        // or the room.
        let sent = item.filter(|q| !mac_in_frm_payload && q.data.len() <= remaining);
        let counter = if sent.is_some() {
            app_counter
        } else {
            FCntDownCounter::Network
        };
        let f_cnt = match counter {
            FCntDownCounter::Network => session.n_f_cnt_down,
            FCntDownCounter::Application => session.a_f_cnt_down,
        };
        let f_pending = more_items || (item.is_some() && sent.is_none());
        let (fopts, fport, frm_payload) = match (mac_in_frm_payload, sent) {
            (true, _) => (&[][..], Some(0), mac),
            (false, Some(q)) => (mac, Some(q.f_port), &q.data[..]),
            (false, None) => (mac, None, &[][..]),
        };
        let mtype = if sent.is_some_and(|q| q.confirmed) {
            MType::ConfirmedDataDown
        } else {
            MType::UnconfirmedDataDown
        };
        let phy_payload = frame::build(
            session,
            &frame::Plain {
                mtype,
                fctrl: fctrl.with_f_pending(f_pending),
                f_cnt,
                fopts,
                fport,
                frm_payload,
                acked_f_cnt_up: uplink.f_cnt,
            },
        )?;
        let tx_info = downlink_timing::delayed_tx_info(
            params,
            gateway.rx_info,
            w.rx,
            settings.downlink_tx_power,
        )?;
        planned.push(PlannedItem {
            window: w.window,
            counter,
            f_cnt_down: f_cnt,
            f_port: fport,
            queue_item: sent.map(|q| SentQueueItem {
                id: q.id,
                confirmed: q.confirmed,
                f_port: q.f_port,
            }),
            mac_commands_len: mac.len(),
            f_pending,
            tx_info: tx_info.clone(),
        });
        frame_items.push(gw::DownlinkFrameItem {
            phy_payload,
            tx_info_legacy: None,
            tx_info: Some(tx_info),
        });
    }

    // 0 reads as "unset" in protobuf and in some gateway bridges.
    let downlink_id = rng.random_range(1..=u32::MAX);
    let gateway_id = gateway.gateway_id().to_string();
    Ok(ClassAResponse {
        plan: Some(DownlinkPlan {
            frame: gw::DownlinkFrame {
                downlink_id,
                items: frame_items,
                gateway_id: gateway_id.clone(),
                ..Default::default()
            },
            tx_ack: TxAckContext {
                downlink_id,
                dev_eui: uplink.dev_eui,
                gateway_id,
                pending_timeout: (uplink.device_class == DeviceClass::C)
                    .then_some(profile.class_c_timeout),
                items: planned,
            },
        }),
        discarded,
    })
}
