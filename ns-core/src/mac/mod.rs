//! MAC commands: the answers a device's uplink commands get, the session
//! changes they bring, and the requests the network server sends.
//!
//! Sans-IO: plain functions over a [`DeviceSession`], with the time passed
//! in. The driver runs them between the uplink and its class A downlink:
//!
//! 1. [`handle_uplink`] (or [`handle_data_uplink`] on an accepted
//!    [`DataUplink`](crate::uplink::DataUplink)) reads the uplink's
//!    commands. Answers to the server's requests are matched with the
//!    requests kept in `mac_command_pending`, and the session changes only
//!    when the device acknowledged them; device requests (LinkCheckReq,
//!    DeviceTimeReq, ResetInd, RekeyInd, DeviceModeInd) get their answers.
//!    The [`MacOutcome`] holds the answers to send, whether a downlink is
//!    due, the device status for a `status` event, a class change, and one
//!    [`MacEvent`] per acknowledged, refused or ignored command.
//! 2. [`requests`] compares the session with the [`DesiredSettings`] (the
//!    region configuration and anything the operator asked for), runs the
//!    profile's ADR algorithm, and returns the requests that fit in the
//!    downlink's room, in priority order, recording them as pending.
//!
//! The answers go first: the room left for requests is the smallest
//! window's MAC-command room less [`encoded_len`] of the answers, and the
//! downlink carries [`to_bytes`] of the answers followed by the requests.
//! Sizing the requests to the room keeps a LinkADRReq block from being cut
//! by the frame builder, and keeps pending only what is sent.
//!
//! The rules are ChirpStack's (its `maccommand` module and the downlink's
//! `set_mac_commands`), with these facts of the specification:
//! - Commands are handled grouped by CID, in the order each CID first
//!   appears; a group answers the pending request block of its CID
//!   (several LinkADRReq of one frame form one block, acknowledged by as
//!   many LinkADRAns; NewChannelAns pair with the NewChannelReq in order).
//! - A refused request counts one error for its CID; a CID whose count is
//!   above [`MacConfig::max_error_count`] (default 1, ChirpStack's
//!   `max_mac_command_error_count`) is not requested again in this session.
//!   An acknowledgement clears the count.
//! - An answer with no pending request (late, repeated, or from a confused
//!   device) is ignored, logged and reported, never an error.
//! - RXParamSetupAns, RXTimingSetupAns and DlChannelAns are repeated by the
//!   device until it receives a downlink, so they make one due.
//! - LinkADRReq and NewChannelReq never share a downlink (as ChirpStack):
//!   the channel mask is planned over the channels the device has.
//! - Channel indices are the device's: a dynamic plan's default channels,
//!   then `extra_uplink_channels` in order (as the join's CFList numbers
//!   them); a fixed plan's grid. An extra channel of frequency 0 is a hole
//!   (a slot whose NewChannelReq was refused while a later one was taken).
//!
//! ```
//! use std::time::SystemTime;
//! use lorawan::mac::{LinkAdrAns, MacCommand};
//! use lorawan::region::{Region, RegionConfig, Revision};
//! use ns_core::adr::AdrRegistry;
//! use ns_core::mac::{self, DesiredSettings, MacConfig, UplinkInfo};
//! use ns_core::model::{DeviceProfile, DeviceSession, MacVersion};
//! # fn session() -> DeviceSession {
//! #     serde_json::from_value(serde_json::json!({
//! #         "dev_addr": "01020304", "mac_version": "1.0.3",
//! #         "f_nwk_s_int_key": "01010101010101010101010101010101",
//! #         "s_nwk_s_int_key": "01010101010101010101010101010101",
//! #         "nwk_s_enc_key": "01010101010101010101010101010101",
//! #         "app_s_key": "02020202020202020202020202020202",
//! #         "f_cnt_up": 10, "n_f_cnt_down": 0, "a_f_cnt_down": 0, "conf_f_cnt": 0,
//! #         "rx1_delay": 1, "rx1_dr_offset": 0, "rx2_dr": 0, "rx2_frequency": 869525000,
//! #         "enabled_uplink_channel_indices": [0, 1, 2], "extra_uplink_channels": [],
//! #         "adr": true, "dr": 0, "tx_power_index": 0, "nb_trans": 1,
//! #         "max_supported_tx_power_index": 0, "uplink_adr_history": [],
//! #         "mac_command_pending": [], "mac_command_error_count": {},
//! #         "last_device_status_request": null, "region_config_id": "eu868",
//! #         "uplink_dwell_time_400ms": false, "downlink_dwell_time_400ms": false,
//! #         "uplink_max_eirp_index": 0
//! #     })).unwrap()
//! # }
//!
//! let network = RegionConfig { id: "eu868".into(), common_name: Some(Region::Eu868), ..Default::default() }
//!     .resolve()?;
//! let profile = DeviceProfile::new(uuid::Uuid::nil(), "p", Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
//! let mut session: DeviceSession = session(); // a device at DR0 on the three default channels
//! let desired = DesiredSettings::from_network(&network);
//! let config = MacConfig::default();
//! let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
//!
//! // The network wants a DevStatusReq (once a day by the profile) and a
//! // LinkADRReq? Not yet: ADR has no history. Room for 15 bytes of FOpts.
//! let sent = mac::requests(now, &mut session, &profile, &desired, &config, &AdrRegistry::default(), 15);
//! assert_eq!(sent, [MacCommand::DevStatusReq]);
//! assert_eq!(session.mac_command_pending.len(), 1);
//!
//! // The device's next uplink answers it.
//! let answer = MacCommand::DevStatusAns(lorawan::mac::DevStatusAns { battery: 254, margin: 7 });
//! let outcome = mac::handle_uplink(now, &mut session, &profile, &UplinkInfo { dr: 0, rx_infos: &[] }, &[answer], &config);
//! let status = outcome.status.unwrap();
//! assert_eq!((status.margin, status.battery_level), (7, 100.0));
//! assert!(session.mac_command_pending.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod channels;
mod requests;
mod uplink;

use lorawan::Direction;
use lorawan::mac::{self as wire, LinkAdrReq, MacCommand};
use serde::{Deserialize, Serialize};

use crate::model::{DeviceClass, DeviceSession, PendingMacCommand};

pub use requests::{DesiredSettings, requests};
pub use uplink::{UplinkInfo, handle_data_uplink, handle_uplink};

/// The network-wide MAC-command settings.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MacConfig {
    /// A CID whose error count is above this is not requested again
    /// (ChirpStack's `network.max_mac_command_error_count`; default 1: one
    /// refusal is retried, a second is final).
    pub max_error_count: u32,
    /// The LoRaWAN minor version the server implements, for ResetConf and
    /// RekeyConf (1: LoRaWAN 1.1).
    pub server_minor_version: u8,
    /// The most NewChannelReq per downlink (ChirpStack: 3).
    pub max_new_channel_reqs: usize,
}

impl Default for MacConfig {
    fn default() -> Self {
        Self {
            max_error_count: 1,
            server_minor_version: 1,
            max_new_channel_reqs: 3,
        }
    }
}

impl MacConfig {
    /// Whether requests with this CID may still be sent.
    pub fn allows(&self, session: &DeviceSession, cid: u8) -> bool {
        session
            .mac_command_error_count
            .get(&cid)
            .is_none_or(|&n| n <= self.max_error_count)
    }
}

/// The device status of a DevStatusAns, as ChirpStack's `status` event
/// carries it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    /// The demodulation margin of the last DevStatusReq, dB (−32 to 31).
    pub margin: i32,
    /// The device is on external power (Battery 0).
    pub external_power_source: bool,
    /// The device cannot measure its battery (Battery 255).
    pub battery_level_unavailable: bool,
    /// The battery level in percent (Battery 1 to 254 scaled to 0.4–100);
    /// 0 when on external power or unavailable.
    pub battery_level: f32,
}

impl DeviceStatus {
    /// The status a DevStatusAns reports.
    pub fn from_answer(answer: &wire::DevStatusAns) -> Self {
        let level = matches!(answer.battery, 1..=254);
        Self {
            margin: i32::from(answer.margin),
            external_power_source: answer.battery == 0,
            battery_level_unavailable: answer.battery == 255,
            battery_level: if level {
                f32::from(answer.battery) / 254.0 * 100.0
            } else {
                0.0
            },
        }
    }
}

/// Why an uplink command was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// An answer with no request of its CID pending: late, repeated (as
    /// RXParamSetupAns is until a downlink), or unsolicited.
    NoPendingRequest,
    /// More answers than requests in the pending block.
    NoMatchingRequest,
    /// A command the session's LoRaWAN version or activation does not have
    /// (RekeyInd from a 1.0 device, ResetInd from an OTAA device).
    NotForThisDevice,
    /// A command this module does not handle: class B (PingSlotInfoReq,
    /// PingSlotChannelAns, BeaconFreqAns, BeaconTimingReq) and TS011 relay
    /// commands, left to their own modules.
    NotHandled,
    /// A downlink command given as an uplink one.
    WrongDirection,
}

/// What happened to one command of an uplink.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MacEvent {
    /// The device accepted `request`: its settings are in the session (or,
    /// for the commands the session has no field for — DutyCycleReq,
    /// DlChannelReq, ADRParamSetupReq, RejoinParamSetupReq — the driver
    /// records them and clears them from its desired settings).
    Acknowledged {
        /// The request, as sent.
        request: MacCommand,
        /// The device's answer.
        answer: MacCommand,
    },
    /// The device refused `request`; its CID's error count is now
    /// `error_count`.
    Rejected {
        /// The request, as sent.
        request: MacCommand,
        /// The device's answer.
        answer: MacCommand,
        /// The CID's error count after this refusal.
        error_count: u32,
    },
    /// The command was ignored.
    Ignored {
        /// The command.
        command: MacCommand,
        /// Why.
        reason: IgnoreReason,
    },
}

/// What an uplink's MAC commands give.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct MacOutcome {
    /// The answers to send in the next downlink (LinkCheckAns,
    /// DeviceTimeAns, ResetConf, RekeyConf, DeviceModeConf), in order.
    pub answers: Vec<MacCommand>,
    /// The device repeats an answer until it receives a downlink
    /// (RXParamSetupAns, RXTimingSetupAns, DlChannelAns): send one even if
    /// empty. See [`needs_downlink`](Self::needs_downlink).
    pub downlink_required: bool,
    /// The status of a DevStatusAns, for the `status` event.
    pub status: Option<DeviceStatus>,
    /// The class a DeviceModeInd switched the device to: the driver stores
    /// it as the device's `enabled_class`.
    pub device_class: Option<DeviceClass>,
    /// One event per command acknowledged, refused or ignored.
    pub events: Vec<MacEvent>,
}

impl MacOutcome {
    /// Whether a downlink is due: answers to send, or a repeated answer to
    /// stop.
    pub fn needs_downlink(&self) -> bool {
        self.downlink_required || !self.answers.is_empty()
    }

    /// How many commands were ignored (for metrics).
    pub fn ignored(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, MacEvent::Ignored { .. }))
            .count()
    }
}

/// The encoded length of `commands`, CIDs included.
pub fn encoded_len(commands: &[MacCommand]) -> usize {
    commands.iter().map(MacCommand::encoded_len).sum()
}

/// The bytes of `commands`, one after another, as FOpts or an FPort 0
/// payload carries them. A command whose values do not fit its fields is
/// left out (those [`requests`] and [`handle_uplink`] return always fit).
///
/// ```
/// use lorawan::mac::MacCommand;
/// assert_eq!(ns_core::mac::to_bytes(&[MacCommand::DevStatusReq]), [0x06]);
/// ```
pub fn to_bytes(commands: &[MacCommand]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(commands));
    for c in commands {
        if c.emit_to_vec(&mut out).is_err() {
            tracing::warn!(
                command = c.name(),
                ?c,
                "MAC command values cannot be encoded"
            );
        }
    }
    out
}

/// The commands that fit in `max_bytes`, in their order.
///
/// Commands are taken in priority order (the order given); one that does
/// not fit is skipped and smaller ones after it may still be taken. A run
/// of LinkADRReq is one block, taken whole or not at all (the device
/// applies it atomically). LinkADRReq and NewChannelReq exclude each
/// other: whichever comes first wins, the other waits for a later
/// downlink.
///
/// ```
/// use lorawan::mac::{ChMask, LinkAdrReq, MacCommand, NewChannelReq};
/// use ns_core::mac::select;
///
/// let adr = |cntl| MacCommand::LinkAdrReq(LinkAdrReq {
///     data_rate: 3, tx_power: 0, ch_mask: ChMask(0xff), ch_mask_cntl: cntl, nb_trans: 1,
/// });
/// let commands = [adr(7), adr(0), MacCommand::DevStatusReq];
/// // The two-command LinkADRReq block (10 bytes) does not fit in 6 bytes.
/// assert_eq!(select(&commands, 6), [MacCommand::DevStatusReq]);
/// assert_eq!(select(&commands, 11).len(), 3);
///
/// let new_channel = MacCommand::NewChannelReq(NewChannelReq {
///     ch_index: 3, frequency: 867_100_000, min_dr: 0, max_dr: 5,
/// });
/// assert_eq!(select(&[new_channel, adr(0)], 15), [new_channel]);
/// ```
pub fn select(commands: &[MacCommand], max_bytes: usize) -> Vec<MacCommand> {
    let mut out = Vec::new();
    let mut room = max_bytes;
    let mut has_link_adr = false;
    let mut has_new_channel = false;
    let mut rest = commands;
    while let Some(first) = rest.first() {
        let unit_len = if matches!(first, MacCommand::LinkAdrReq(_)) {
            rest.iter()
                .take_while(|c| matches!(c, MacCommand::LinkAdrReq(_)))
                .count()
        } else {
            1
        };
        let (unit, tail) = rest.split_at(unit_len);
        rest = tail;
        let excluded = match first {
            MacCommand::LinkAdrReq(_) => has_new_channel,
            MacCommand::NewChannelReq(_) => has_link_adr,
            _ => false,
        };
        let len = encoded_len(unit);
        if excluded || len > room {
            continue;
        }
        room -= len;
        has_link_adr |= matches!(first, MacCommand::LinkAdrReq(_));
        has_new_channel |= matches!(first, MacCommand::NewChannelReq(_));
        out.extend_from_slice(unit);
    }
    out
}

/// The pending request block of `cid`, decoded; removed from the session.
fn take_pending(session: &mut DeviceSession, cid: u8) -> Option<Vec<MacCommand>> {
    let i = session
        .mac_command_pending
        .iter()
        .position(|p| p.cid == cid)?;
    let pending = session.mac_command_pending.remove(i);
    // A block that cannot be read back (stored by another version, or
    // damaged) is as good as none.
    let commands: Vec<MacCommand> = wire::parse(Direction::Downlink, &pending.request)
        .map_while(Result::ok)
        .filter(|c| c.cid() == cid)
        .collect();
    (!commands.is_empty()).then_some(commands)
}

/// Records `sent` (in the order sent) as the pending blocks of their CIDs:
/// a block equal to the one pending counts one more attempt, another one
/// replaces it.
fn record_pending(session: &mut DeviceSession, sent: &[MacCommand]) {
    let mut cids: Vec<u8> = Vec::new();
    for c in sent {
        if !cids.contains(&c.cid()) {
            cids.push(c.cid());
        }
    }
    for cid in cids {
        let mut request = Vec::new();
        for c in sent.iter().filter(|c| c.cid() == cid) {
            // Requests were checked to encode when they were planned.
            let _ = c.emit_to_vec(&mut request);
        }
        match session
            .mac_command_pending
            .iter_mut()
            .find(|p| p.cid == cid)
        {
            Some(p) if p.request == request => p.attempts = p.attempts.saturating_add(1),
            Some(p) => {
                p.request = request;
                p.attempts = 1;
            }
            None => session.mac_command_pending.push(PendingMacCommand {
                cid,
                request,
                attempts: 1,
            }),
        }
    }
}

/// Whether `command` encodes (its values fit their fields).
fn encodes(command: &MacCommand) -> bool {
    let mut buf = [0u8; wire::MAX_ENCODED_LEN];
    command.emit(&mut buf).is_ok()
}

/// The LinkADRReq of a command list.
fn link_adr_reqs(commands: &[MacCommand]) -> Vec<LinkAdrReq> {
    commands
        .iter()
        .filter_map(|c| match c {
            MacCommand::LinkAdrReq(r) => Some(*r),
            _ => None,
        })
        .collect()
}
