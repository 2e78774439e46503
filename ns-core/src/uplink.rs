//! Data uplinks: from a de-duplicated [`UplinkFrameSet`] and the devices
//! whose sessions hold its DevAddr to the session to store and the payload
//! to publish, or to the reason the frame is dropped.
//!
//! Sans-IO: the driver looks up the candidate devices by DevAddr
//! ([`data_uplink_dev_addr`] tells which), calls [`handle_data_uplink`]
//! with them and the region configuration the set came in under, and acts
//! on the value it gets back — stores the new session under the
//! [conditional-update contract](DataUplink::stored_f_cnt_up), publishes
//! the `up` event, or publishes a `log` event for a [`Rejection`]. Nothing
//! here reads a clock or storage.
//!
//! The steps and their rules are ChirpStack's (`uplink/data.rs` and the
//! device-session lookup it calls):
//! 1. The data rate comes from the `tx_info` modulation and the region's
//!    table, the channel from the frequency and that data rate — the
//!    network's extra channels first, then the plan's ([`tx_params`]).
//! 2. Each candidate session with the frame's DevAddr, received under the
//!    session's region configuration (an empty one matches any), is tried:
//!    the 32-bit FCnt is rebuilt from the session's `f_cnt_up` and the
//!    frame's 16 bits, and the MIC is checked with it, then with the 16 bits
//!    alone, which catches a device that reset its counter. LoRaWAN 1.1
//!    sessions check cmacS and cmacF with ConfFCnt (when the ACK bit is
//!    set), the TX data rate and the channel index. The first session whose
//!    MIC verifies is the device's; none gives [`RejectReason::InvalidMic`].
//! 3. The device profile must be of the receiving region, the device must
//!    not be disabled.
//! 4. FCnt: at or above the expected value is accepted; below it, a device
//!    with `skip_fcnt_check` is accepted anyway; otherwise the expected
//!    value − 1 is a retransmission and anything else a counter reset, and
//!    both are rejected with a reason the driver turns into a `log` event
//!    ([`RejectReason::log_code`]).
//! 5. FOpts are decrypted with the NwkSEncKey in LoRaWAN 1.1 (the errata's
//!    FCntUp block), FRMPayload with the NwkSEncKey for FPort 0 and 226
//!    (relay) and with the AppSKey otherwise; the MAC commands of FOpts or
//!    of an FPort 0 payload are parsed. A MAC command that cannot be read
//!    ends the list but not the uplink, as in ChirpStack.
//! 6. The new session: `f_cnt_up` = FCnt + 1, the ADR bit, the data rate
//!    (a change resets the TX power index and the ADR history), the default
//!    channels after an ADRACKReq, one more ADR history entry (not for a
//!    repeated FCnt; the last 20 kept), the receiving region configuration.
//!
//! ```
//! use std::time::Instant;
//! use lorawan::region::{Region, RegionConfig};
//! use ns_core::dedup::{DedupConfig, Deduplicator};
//! use ns_core::uplink::{self, RejectReason, TxParams};
//! use packet_forwarder::gw;
//!
//! let network = RegionConfig {
//!     id: "eu868".into(),
//!     common_name: Some(Region::Eu868),
//!     ..Default::default()
//! }
//! .resolve()?;
//!
//! // An unconfirmed uplink from 01020304 on 868.3 MHz, SF7/125 kHz.
//! let phy_payload = vec![0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01,
//!                        0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6, 0xc3, 0xb5, 0x82];
//! let tx_info = gw::UplinkTxInfo {
//!     frequency: 868_300_000,
//!     modulation: Some(gw::Modulation {
//!         parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
//!             bandwidth: 125_000,
//!             spreading_factor: 7,
//!             ..Default::default()
//!         })),
//!     }),
//! };
//! assert_eq!(uplink::tx_params(&network, &tx_info)?, TxParams { dr: 5, channel: 1 });
//!
//! let mut dedup = Deduplicator::new(DedupConfig::default());
//! let now = Instant::now();
//! dedup.handle_frame(now, "eu868", gw::UplinkFrame {
//!     phy_payload,
//!     tx_info: Some(tx_info),
//!     rx_info: Some(gw::UplinkRxInfo { gateway_id: "0101010101010101".into(), ..Default::default() }),
//!     ..Default::default()
//! });
//! dedup.handle_timeout(now + dedup.config().deduplication_delay);
//! let set = dedup.poll_set().unwrap();
//!
//! // The driver fetches the devices whose session has this DevAddr …
//! let dev_addr = uplink::data_uplink_dev_addr(&set.phy_payload)?;
//! assert_eq!(dev_addr.to_string(), "01020304");
//! // … here none, so the frame is rejected.
//! let rejection = uplink::handle_data_uplink(&network, &set, &[]).unwrap_err();
//! assert_eq!(rejection.reason, RejectReason::UnknownDevAddr(dev_addr));
//! assert!(rejection.device.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use lorawan::crypto::B1Fields;
use lorawan::keys::NwkSKey;
use lorawan::mac::{self, MacCommand, MacError};
use lorawan::modulation::Modulation;
use lorawan::phy::{DataFrame, FCtrl, Frame, FrameError, MAX_PHY_PAYLOAD_LEN, MType};
use lorawan::region::{Network, RegionParams};
use lorawan::{DevAddr, Direction, FCnt};
use packet_forwarder::gw;
use uuid::Uuid;

use crate::dedup::UplinkFrameSet;
use crate::model::{AdrHistoryEntry, Device, DeviceProfile, DeviceSession};

/// How many uplinks a session remembers for ADR.
pub const ADR_HISTORY_LEN: usize = 20;

/// The FPort of TS011 relay messages, whose payload is under the NwkSEncKey.
const RELAY_FPORT: u8 = 226;

/// The data rate and channel an uplink was sent on, as the LoRaWAN 1.1 MIC
/// and the ADR logic need them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxParams {
    /// The data-rate index of the region.
    pub dr: u8,
    /// The uplink channel index: the plan's channels, then the network's
    /// extra channels.
    pub channel: u8,
}

/// Why the data rate or channel of an uplink cannot be told from its
/// `tx_info`: a gateway reporting nonsense, or a frame on a frequency or
/// modulation the region configuration does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxInfoError {
    /// `tx_info.modulation` or its parameters are missing.
    #[error("tx_info has no modulation")]
    MissingModulation,
    /// An LR-FHSS coding rate no data rate uses (the `gw.CodeRate` value).
    #[error("LR-FHSS code rate {0} matches no data rate")]
    UnknownCodeRate(i32),
    /// No uplink data rate of the region has this modulation.
    #[error("no uplink data rate of the region is {0}")]
    UnknownDataRate(Modulation),
    /// No channel of the region configuration has this frequency and
    /// allows this data rate.
    #[error("no uplink channel on {frequency} Hz allows DR{dr}")]
    UnknownChannel {
        /// The frequency, Hz.
        frequency: u32,
        /// The data rate.
        dr: u8,
    },
}

/// The data rate and channel index of an uplink with this `tx_info`,
/// received under the region configuration `network`.
///
/// The channel is the first of the network's extra channels on the
/// frequency, else the first of the plan's, and must allow the data rate
/// (as ChirpStack's region code looks it up).
pub fn tx_params(network: &Network, tx_info: &gw::UplinkTxInfo) -> Result<TxParams, TxInfoError> {
    let modulation = modulation(tx_info)?;
    let dr = network
        .params
        .data_rate_index(&modulation, true)
        .ok_or(TxInfoError::UnknownDataRate(modulation))?;
    let channel = uplink_channel(network, tx_info.frequency, dr)?;
    Ok(TxParams { dr, channel })
}

fn modulation(tx_info: &gw::UplinkTxInfo) -> Result<Modulation, TxInfoError> {
    use crate::downlink_timing::{self, TxInfoError as Timing};
    downlink_timing::uplink_modulation(tx_info).map_err(|e| match e {
        Timing::LrFhssCodeRate { code_rate } => TxInfoError::UnknownCodeRate(code_rate),
        // The only other error reading a modulation can give.
        _ => TxInfoError::MissingModulation,
    })
}

fn uplink_channel(network: &Network, frequency: u32, dr: u8) -> Result<u8, TxInfoError> {
    let params = network.params;
    let plan_count = params.uplink_channel_count();
    let extra = network
        .extra_channels
        .iter()
        .position(|c| c.frequency == frequency)
        .and_then(|j| Some((plan_count + j, *network.extra_channels.get(j)?)));
    let planned = (0..plan_count).find_map(|i| {
        params
            .uplink_channel(i)
            .filter(|c| c.frequency == frequency)
            .map(|c| (i, c))
    });
    [extra, planned]
        .into_iter()
        .flatten()
        .find(|(_, c)| (c.min_dr..=c.max_dr).contains(&dr))
        .and_then(|(i, _)| u8::try_from(i).ok())
        .ok_or(TxInfoError::UnknownChannel { frequency, dr })
}

/// How the frame counter check ended for an accepted uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FCntCheck {
    /// The FCnt is at or above the expected one.
    Passed,
    /// The FCnt is the previous one (a retransmission), accepted because the
    /// device has `skip_fcnt_check`.
    SkippedRetransmission,
    /// The FCnt is further back (a counter reset), accepted because the
    /// device has `skip_fcnt_check`.
    SkippedReset,
}

/// An accepted data uplink: what to store, publish and answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DataUplink {
    /// The device, as read (its `session` is the one read, not the new one).
    pub device: Device,
    /// Its profile.
    pub device_profile: DeviceProfile,
    /// The session to store; see [`stored_f_cnt_up`](Self::stored_f_cnt_up).
    pub session: DeviceSession,
    /// The session's `f_cnt_up` as read: the guard of the conditional update.
    ///
    /// The driver stores [`session`](Self::session) only if the device's
    /// stored `f_cnt_up` is still this value (`UPDATE device SET f_cnt_up =
    /// <session.f_cnt_up>, … WHERE dev_eui = ? AND f_cnt_up =
    /// <stored_f_cnt_up>`). If no row changes, another server instance or a
    /// duplicate set has processed an uplink of this device since the read:
    /// the driver drops this outcome without publishing anything (ChirpStack's
    /// `FCntUpAlreadyUpdated`), so each uplink is processed once.
    pub stored_f_cnt_up: u32,
    /// The full 32-bit FCnt of the frame.
    pub f_cnt: u32,
    /// How the FCnt check ended.
    pub f_cnt_check: FCntCheck,
    /// The DevAddr.
    pub dev_addr: DevAddr,
    /// The data rate and channel.
    pub tx_params: TxParams,
    /// ConfirmedDataUp: the device expects an ACK.
    pub confirmed: bool,
    /// FCtrl.ADR: the device accepts ADR.
    pub adr: bool,
    /// FCtrl.ADRACKReq: the device asks for a downlink.
    pub adr_ack_req: bool,
    /// FCtrl.ACK: the device acknowledges the last confirmed downlink.
    pub ack: bool,
    /// FCtrl bit 4, ClassB in an uplink (FPending only in downlinks): the
    /// device is locked to beacons and listens in ping slots.
    pub class_b: bool,
    /// FPort, when the frame has one.
    pub f_port: Option<u8>,
    /// The decrypted FRMPayload: application data, or for FPort 0 the MAC
    /// commands (also in [`mac_commands`](Self::mac_commands)); see
    /// [`data`](Self::data).
    pub frm_payload: Vec<u8>,
    /// The MAC commands of FOpts or of an FPort 0 payload, in order, up to
    /// the first that cannot be read.
    pub mac_commands: Vec<MacCommand>,
    /// Why reading the MAC commands stopped early, if it did.
    pub mac_command_error: Option<MacError>,
    /// The set's identifier.
    pub deduplication_id: Uuid,
    /// The region configuration the frame came in under.
    pub region_config_id: String,
    /// The transmission parameters.
    pub tx_info: gw::UplinkTxInfo,
    /// The gateways' receptions.
    pub rx_infos: Vec<gw::UplinkRxInfo>,
}

impl DataUplink {
    /// The application payload for the `up` event: the FRMPayload of FPort
    /// 1..=223 and 224, 225, 227..; empty for FPort 0 (MAC commands), 226
    /// (relay) and a frame without FPort.
    pub fn data(&self) -> &[u8] {
        match self.f_port {
            Some(0 | RELAY_FPORT) | None => &[],
            Some(_) => &self.frm_payload,
        }
    }
}

/// Why a data uplink was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The PHYPayload cannot be read.
    #[error("malformed PHYPayload: {0}")]
    Malformed(#[from] FrameError),
    /// The frame is not an (un)confirmed data uplink: a join-request,
    /// rejoin-request, proprietary or downlink frame.
    #[error("{0:?} frame is not a data uplink")]
    NotData(MType),
    /// The data rate or channel cannot be told.
    #[error("transmission parameters: {0}")]
    TxInfo(#[from] TxInfoError),
    /// No candidate session has this DevAddr in the receiving region.
    #[error("no device session for DevAddr {0} in this region")]
    UnknownDevAddr(DevAddr),
    /// Candidate sessions exist, but none gives the frame's MIC.
    #[error("no device session for DevAddr {0} gives the frame's MIC")]
    InvalidMic(DevAddr),
    /// The device's profile is for another region (or region
    /// configuration) than the one the frame came in under.
    #[error("device profile is for {device_profile}, the uplink came in under {received}")]
    RegionMismatch {
        /// The profile's region or region configuration.
        device_profile: String,
        /// The receiving one.
        received: String,
    },
    /// The device is disabled.
    #[error("device is disabled")]
    Disabled,
    /// The FCnt is the previous one: the device repeated its last frame.
    #[error("FCnt {f_cnt} is a retransmission (expected {expected})")]
    FCntRetransmission {
        /// The frame's FCnt.
        f_cnt: u32,
        /// The FCnt expected.
        expected: u32,
    },
    /// The FCnt went back further: the device reset its counter (or the
    /// frame is a replay).
    #[error("FCnt {f_cnt} is behind the expected {expected}: counter reset or replay")]
    FCntReset {
        /// The frame's FCnt.
        f_cnt: u32,
        /// The FCnt expected.
        expected: u32,
    },
}

impl RejectReason {
    /// The `LogCode` of the `log` event ChirpStack sends the application for
    /// this reason, if it sends one: `UPLINK_F_CNT_RETRANSMISSION`,
    /// `UPLINK_F_CNT_RESET`. Other reasons are only logged by the server
    /// (an invalid MIC as a frame under the null DevEUI).
    pub fn log_code(&self) -> Option<&'static str> {
        match self {
            Self::FCntRetransmission { .. } => Some("UPLINK_F_CNT_RETRANSMISSION"),
            Self::FCntReset { .. } => Some("UPLINK_F_CNT_RESET"),
            _ => None,
        }
    }
}

/// A data uplink that was not accepted, with the device when its session
/// was found (for the `log` event). Nothing is to be stored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
#[non_exhaustive]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
    /// The device whose session verified the MIC, and its profile.
    pub device: Option<Box<(Device, DeviceProfile)>>,
}

impl Rejection {
    fn anonymous(reason: impl Into<RejectReason>) -> Self {
        Self {
            reason: reason.into(),
            device: None,
        }
    }

    fn of(reason: RejectReason, device: &Device, profile: &DeviceProfile) -> Self {
        Self {
            reason,
            device: Some(Box::new((device.clone(), profile.clone()))),
        }
    }
}

/// The DevAddr of a data uplink, to look its candidate devices up by;
/// rejects what [`handle_data_uplink`] would reject before the lookup.
pub fn data_uplink_dev_addr(phy_payload: &[u8]) -> Result<DevAddr, RejectReason> {
    data_uplink_frame(phy_payload).map(|f| f.dev_addr())
}

fn data_uplink_frame(phy_payload: &[u8]) -> Result<DataFrame<'_>, RejectReason> {
    match Frame::parse(phy_payload)? {
        Frame::Data(frame) if frame.direction() == Direction::Uplink => Ok(frame),
        frame => Err(RejectReason::NotData(MType::from_bits(
            frame.as_bytes().first().copied().unwrap_or_default() >> 5,
        ))),
    }
}

/// Processes a data uplink set received under the region configuration
/// `network` (whose id is `set.region_config_id`), given the devices whose
/// sessions have the frame's DevAddr (disabled ones included: a frame of a
/// disabled device is told apart from one of an unknown device).
///
/// See the [module documentation](self) for the steps. Bad input of any
/// kind gives a [`Rejection`], never a panic.
pub fn handle_data_uplink(
    network: &Network,
    set: &UplinkFrameSet,
    candidates: &[(Device, DeviceProfile)],
) -> Result<DataUplink, Rejection> {
    let frame = data_uplink_frame(&set.phy_payload).map_err(Rejection::anonymous)?;
    let tx = tx_params(network, &set.tx_info).map_err(Rejection::anonymous)?;
    let (device, profile, session, f_cnt) =
        find_session(&frame, set, network.params, tx, candidates)?;
    let reject = |reason| Rejection::of(reason, device, profile);

    let region = network.params.region;
    if profile.region != region {
        return Err(reject(RejectReason::RegionMismatch {
            device_profile: profile.region.to_string(),
            received: region.to_string(),
        }));
    }
    if !profile.region_config_id.is_empty() && profile.region_config_id != set.region_config_id {
        return Err(reject(RejectReason::RegionMismatch {
            device_profile: profile.region_config_id.clone(),
            received: set.region_config_id.clone(),
        }));
    }
    if device.is_disabled {
        return Err(reject(RejectReason::Disabled));
    }
    let f_cnt_check =
        check_f_cnt(f_cnt, session.f_cnt_up, device.skip_fcnt_check).map_err(reject)?;

    let payloads = decrypt(&frame, session, f_cnt).map_err(|e| reject(e.into()))?;
    let fctrl = frame.fctrl();
    Ok(DataUplink {
        device: device.clone(),
        device_profile: profile.clone(),
        session: next_session(network, set, session, fctrl, tx, f_cnt),
        stored_f_cnt_up: session.f_cnt_up,
        f_cnt,
        f_cnt_check,
        dev_addr: frame.dev_addr(),
        tx_params: tx,
        confirmed: frame.is_confirmed(),
        adr: fctrl.adr(),
        adr_ack_req: fctrl.adr_ack_req(),
        ack: fctrl.ack(),
        class_b: fctrl.class_b(),
        f_port: frame.fport(),
        frm_payload: payloads.frm_payload,
        mac_commands: payloads.mac_commands,
        mac_command_error: payloads.mac_command_error,
        deduplication_id: set.deduplication_id,
        region_config_id: set.region_config_id.clone(),
        tx_info: set.tx_info.clone(),
        rx_infos: set.rx_infos.clone(),
    })
}

/// The first candidate session whose MIC verifies, with the FCnt it
/// verified with.
fn find_session<'c>(
    frame: &DataFrame<'_>,
    set: &UplinkFrameSet,
    params: &RegionParams,
    tx: TxParams,
    candidates: &'c [(Device, DeviceProfile)],
) -> Result<(&'c Device, &'c DeviceProfile, &'c DeviceSession, u32), Rejection> {
    let dev_addr = frame.dev_addr();
    let received = frame.fcnt();
    let mut in_region = false;
    for (device, profile) in candidates {
        let Some(session) = &device.session else {
            continue;
        };
        let region_ok =
            session.region_config_id.is_empty() || session.region_config_id == set.region_config_id;
        if session.dev_addr != dev_addr || !region_ok {
            continue;
        }
        in_region = true;
        let b1 = B1Fields {
            // ConfFCnt only when acknowledging, and its 16 low bits.
            conf_f_cnt: if frame.fctrl().ack() {
                session.conf_f_cnt as u16
            } else {
                0
            },
            tx_dr: tx.dr,
            tx_ch: device_channel_index(session, params, set.tx_info.frequency, tx.dr)
                .unwrap_or(tx.channel),
        };
        let full = FCnt::reconstruct(session.f_cnt_up, received);
        let raw = u32::from(received);
        // The raw 16 bits catch a device that reset its counter, which the
        // reconstruction takes for a 16-bit rollover.
        let mut tries = [Some(full), (raw != full).then_some(raw)]
            .into_iter()
            .flatten();
        // Keyed once per candidate, for both tries.
        let verified = if session.mac_version.is_1_1() {
            let f = session.f_nwk_s_int_key.keyed();
            let s = session.s_nwk_s_int_key.keyed();
            tries.find(|&f_cnt| frame.verify_uplink_mic_11(&f, &s, b1, f_cnt).is_ok())
        } else {
            // A 1.0 session keeps its one NwkSKey in every network-key field.
            let key = NwkSKey::from_be_bytes(session.f_nwk_s_int_key.to_be_bytes()).keyed();
            tries.find(|&f_cnt| frame.verify_uplink_mic_10(&key, f_cnt).is_ok())
        };
        if let Some(f_cnt) = verified {
            return Ok((device, profile, session, f_cnt));
        }
    }
    Err(Rejection::anonymous(if in_region {
        RejectReason::InvalidMic(dev_addr)
    } else {
        RejectReason::UnknownDevAddr(dev_addr)
    }))
}

/// The index the device itself gives the channel of an uplink (the TxCh of
/// the 1.1 MIC): the plan's channels keep their indices, the channels the
/// device got by CFList or NewChannelReq follow them in the order it got
/// them (`extra_uplink_channels`, holes included), which can differ from
/// the network configuration's order. `None` when the frequency is not one
/// of the session's extra channels.
fn device_channel_index(
    session: &DeviceSession,
    params: &RegionParams,
    frequency: u32,
    dr: u8,
) -> Option<u8> {
    let j = session
        .extra_uplink_channels
        .iter()
        .position(|c| c.frequency == frequency && (c.min_dr..=c.max_dr).contains(&dr))?;
    u8::try_from(params.uplink_channel_count() + j).ok()
}

/// ChirpStack's frame-counter rules.
fn check_f_cnt(
    f_cnt: u32,
    expected: u32,
    skip_fcnt_check: bool,
) -> Result<FCntCheck, RejectReason> {
    let retransmission = f_cnt == expected.wrapping_sub(1);
    match (f_cnt >= expected, skip_fcnt_check, retransmission) {
        (true, _, _) => Ok(FCntCheck::Passed),
        (false, true, true) => Ok(FCntCheck::SkippedRetransmission),
        (false, true, false) => Ok(FCntCheck::SkippedReset),
        (false, false, true) => Err(RejectReason::FCntRetransmission { f_cnt, expected }),
        (false, false, false) => Err(RejectReason::FCntReset { f_cnt, expected }),
    }
}

struct Payloads {
    frm_payload: Vec<u8>,
    mac_commands: Vec<MacCommand>,
    mac_command_error: Option<MacError>,
}

fn decrypt(
    frame: &DataFrame<'_>,
    session: &DeviceSession,
    f_cnt: u32,
) -> Result<Payloads, FrameError> {
    let mut fopts_buf = [0u8; 16];
    let fopts = if session.mac_version.is_1_1() && !frame.fopts().is_empty() {
        frame.decrypt_fopts_into(&session.nwk_s_enc_key.keyed(), f_cnt, &mut fopts_buf)?
    } else {
        frame.fopts()
    };
    let mut buf = [0u8; MAX_PHY_PAYLOAD_LEN];
    let frm_payload = match frame.fport() {
        None => &[][..],
        // NwkSEncKey is the 1.0 NwkSKey in a 1.0 session: same cipher, same bytes.
        Some(0 | RELAY_FPORT) => {
            frame.decrypt_frm_payload_into(&session.nwk_s_enc_key.keyed(), f_cnt, &mut buf)?
        }
        Some(_) => frame.decrypt_frm_payload_into(&session.app_s_key.keyed(), f_cnt, &mut buf)?,
    };
    let mac_bytes = if frame.fport() == Some(0) {
        frm_payload
    } else {
        fopts
    };
    let mut mac_commands = Vec::new();
    let mut mac_command_error = None;
    for command in mac::parse(Direction::Uplink, mac_bytes) {
        match command {
            Ok(command) => mac_commands.push(command),
            Err(e) => mac_command_error = Some(e),
        }
    }
    Ok(Payloads {
        frm_payload: frm_payload.to_vec(),
        mac_commands,
        mac_command_error,
    })
}

/// The session after this uplink, before its MAC commands are handled.
fn next_session(
    network: &Network,
    set: &UplinkFrameSet,
    session: &DeviceSession,
    fctrl: FCtrl,
    tx: TxParams,
    f_cnt: u32,
) -> DeviceSession {
    let mut next = session.clone();
    next.f_cnt_up = f_cnt.wrapping_add(1);
    next.adr = fctrl.adr();
    // A device that changed its data rate may have reset its TX power too;
    // what ADR learnt at the old rate no longer holds.
    if next.dr != tx.dr {
        next.tx_power_index = 0;
        next.uplink_adr_history.clear();
    }
    next.dr = tx.dr;
    // ADRACKReq gives no sign whether the device went back to its default
    // channels; assuming it did makes the MAC logic re-send the network's.
    if fctrl.adr_ack_req() {
        next.enabled_uplink_channel_indices = (0..network.params.uplink_channel_count())
            .filter_map(|i| u8::try_from(i).ok())
            .collect();
        next.extra_uplink_channels.clear();
    }
    push_adr_history(&mut next, f_cnt, &set.rx_infos);
    next.region_config_id = set.region_config_id.clone();
    next
}

/// Appends the uplink's best SNR and RSSI to the ADR history, except for a
/// repeated FCnt (a retransmission accepted with `skip_fcnt_check` could be
/// a replay).
fn push_adr_history(session: &mut DeviceSession, f_cnt: u32, rx_infos: &[gw::UplinkRxInfo]) {
    if session
        .uplink_adr_history
        .last()
        .is_some_and(|e| e.f_cnt == f_cnt)
    {
        return;
    }
    let max_snr = rx_infos
        .iter()
        .map(|r| r.snr)
        .reduce(f32::max)
        .unwrap_or(0.0);
    let max_rssi = rx_infos.iter().map(|r| r.rssi).max().unwrap_or(0);
    session.uplink_adr_history.push(AdrHistoryEntry {
        f_cnt,
        max_snr,
        max_rssi,
        tx_power_index: session.tx_power_index,
        gateway_count: u32::try_from(rx_infos.len()).unwrap_or(u32::MAX),
    });
    let excess = session
        .uplink_adr_history
        .len()
        .saturating_sub(ADR_HISTORY_LEN);
    session.uplink_adr_history.drain(..excess);
}

#[cfg(test)]
mod tests {
    use lorawan::region::{Region, Revision, params};

    use super::*;

    /// A 1.1 session whose device got 867.5 MHz before 867.1 MHz (NewChannelReq
    /// order), with a refused slot (frequency 0) between them.
    fn session() -> DeviceSession {
        serde_json::from_value(serde_json::json!({
            "dev_addr": "26011234", "mac_version": "1.1.0",
            "f_nwk_s_int_key": "01010101010101010101010101010101",
            "s_nwk_s_int_key": "02020202020202020202020202020202",
            "nwk_s_enc_key": "03030303030303030303030303030303",
            "app_s_key": "04040404040404040404040404040404",
            "f_cnt_up": 0, "n_f_cnt_down": 0, "a_f_cnt_down": 0, "conf_f_cnt": 0,
            "rx1_delay": 1, "rx1_dr_offset": 0, "rx2_dr": 0, "rx2_frequency": 869525000,
            "enabled_uplink_channel_indices": [0, 1, 2, 3, 5],
            "extra_uplink_channels": [
                {"frequency": 867500000, "min_dr": 0, "max_dr": 5},
                {"frequency": 0, "min_dr": 0, "max_dr": 0},
                {"frequency": 867100000, "min_dr": 0, "max_dr": 5}
            ],
            "adr": true, "dr": 5, "tx_power_index": 0, "nb_trans": 1,
            "max_supported_tx_power_index": 0, "uplink_adr_history": [],
            "mac_command_pending": [], "mac_command_error_count": {},
            "last_device_status_request": null, "region_config_id": "eu868",
            "uplink_dwell_time_400ms": false, "downlink_dwell_time_400ms": false,
            "uplink_max_eirp_index": 0
        }))
        .unwrap()
    }

    #[test]
    fn the_1_1_mic_uses_the_devices_own_channel_numbering() {
        let eu = params(Region::Eu868, Revision::LATEST);
        let s = session();
        // Defaults are 0–2; the device's extras follow in its own order.
        assert_eq!(device_channel_index(&s, eu, 867_500_000, 5), Some(3));
        assert_eq!(device_channel_index(&s, eu, 867_100_000, 0), Some(5));
        // A default channel, or a rate the channel does not allow: the
        // plan's numbering applies.
        assert_eq!(device_channel_index(&s, eu, 868_100_000, 5), None);
        assert_eq!(device_channel_index(&s, eu, 867_100_000, 6), None);
    }
}
