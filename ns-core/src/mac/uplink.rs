//! The MAC commands of an uplink: answers matched with pending requests,
//! device requests answered.

use std::time::{Duration, SystemTime};

use lorawan::Direction;
use lorawan::mac::{
    DeviceClass as ModeClass, DeviceModeConf, DeviceTimeAns, LinkAdrAns, LinkCheckAns, MacCommand,
    RekeyConf, ResetConf,
};
use lorawan::modulation::Modulation;
use lorawan::region::RegionParams;
use packet_forwarder::basic_station::gps_time_us;
use packet_forwarder::gw;

use super::{
    DeviceStatus, IgnoreReason, MacConfig, MacEvent, MacOutcome, channels, link_adr_reqs,
    take_pending,
};
use crate::adr::required_snr;
use crate::model::{DeviceClass, DeviceProfile, DeviceSession};
use crate::uplink::DataUplink;

/// What [`handle_uplink`] needs of the uplink besides its commands.
#[derive(Debug, Clone, Copy)]
pub struct UplinkInfo<'a> {
    /// The data rate it was sent at.
    pub dr: u8,
    /// The gateways' receptions (SNR for LinkCheckAns, GPS time for
    /// DeviceTimeAns).
    pub rx_infos: &'a [gw::UplinkRxInfo],
}

/// Handles the MAC commands of an accepted data uplink: `up.session` (the
/// session to store) changes, the outcome says what to send and publish.
/// See [`handle_uplink`].
pub fn handle_data_uplink(now: SystemTime, up: &mut DataUplink, config: &MacConfig) -> MacOutcome {
    let info = UplinkInfo {
        dr: up.tx_params.dr,
        rx_infos: &up.rx_infos,
    };
    handle_uplink(
        now,
        &mut up.session,
        &up.device_profile,
        &info,
        &up.mac_commands,
        config,
    )
}

/// Handles `commands`, the MAC commands of one uplink of the device with
/// this `session` and `profile`.
///
/// Commands are taken grouped by CID, in the order each CID first appears.
/// For each group:
/// - LinkCheckReq: LinkCheckAns with the best margin over the gateways
///   (SNR minus the SNR the uplink's spreading factor needs, whole dB, at
///   least 0; 0 for other modulations) and the gateway count.
/// - LinkADRAns: the pending LinkADRReq block is applied — channel masks,
///   then DataRate, TXPower and NbTrans of its last command (15, 15 and 0
///   keep the current value) — when every answer acknowledges all three
///   parts; a device with ADR off need only accept the mask (LoRaWAN 1.0.4
///   §5.3, as ChirpStack), and then takes the parts it accepted. Otherwise
///   the CID's error count rises, and a refused TXPower lowers
///   `max_supported_tx_power_index` to one below it. A change of data
///   rate, power or NbTrans clears the ADR history.
/// - RXParamSetupAns (all three bits), NewChannelAns (both bits),
///   RXTimingSetupAns, TXParamSetupAns: the request's settings go into the
///   session when acknowledged; DutyCycleAns, DlChannelAns (both bits),
///   ADRParamSetupAns and RejoinParamSetupAns are reported as events only.
/// - DevStatusAns: [`MacOutcome::status`].
/// - DeviceTimeReq: DeviceTimeAns with the uplink's GPS time: the first
///   gateway `time_since_gps_epoch`, else `now` (UTC, with the 18 leap
///   seconds of 2017).
/// - ResetInd (LoRaWAN 1.1 ABP devices only): ResetConf with the lower of
///   the two minor versions, and the session back to the device's boot
///   settings — the profile's ABP RX settings, TX power index 0, NbTrans
///   1, the plan's default channels, the region's dwell times — with no
///   pending request, error count or ADR history left. Keys and frame
///   counters stay (LoRaWAN 1.1 ABP devices keep them across resets).
/// - RekeyInd (LoRaWAN 1.1): RekeyConf with the lower minor version.
/// - DeviceModeInd: DeviceModeConf with the same class, and
///   [`MacOutcome::device_class`].
///
/// Anything else is reported as [`MacEvent::Ignored`] and logged; nothing
/// here fails or panics, whatever the commands and the stored pending
/// requests hold.
pub fn handle_uplink(
    now: SystemTime,
    session: &mut DeviceSession,
    profile: &DeviceProfile,
    uplink: &UplinkInfo<'_>,
    commands: &[MacCommand],
    config: &MacConfig,
) -> MacOutcome {
    let params = channels::device_params(profile, None);
    let mut out = MacOutcome::default();
    let mut cids: Vec<u8> = Vec::new();
    for c in commands {
        if c.direction() != Direction::Uplink {
            ignore(&mut out, c, IgnoreReason::WrongDirection);
        } else if !cids.contains(&c.cid()) {
            cids.push(c.cid());
        }
    }
    for cid in cids {
        let block: Vec<MacCommand> = commands
            .iter()
            .filter(|c| c.cid() == cid && c.direction() == Direction::Uplink)
            .copied()
            .collect();
        handle_block(
            now, session, profile, params, uplink, &block, config, &mut out,
        );
    }
    out
}

#[allow(clippy::too_many_arguments)] // one call site, all of it context
fn handle_block(
    now: SystemTime,
    session: &mut DeviceSession,
    profile: &DeviceProfile,
    params: &'static RegionParams,
    uplink: &UplinkInfo<'_>,
    block: &[MacCommand],
    config: &MacConfig,
    out: &mut MacOutcome,
) {
    let Some(first) = block.first().copied() else {
        return;
    };
    match first {
        MacCommand::LinkCheckReq => {
            out.answers
                .push(MacCommand::LinkCheckAns(link_check(params, uplink)));
        }
        MacCommand::LinkAdrAns(_) => link_adr_ans(session, params, block, out),
        MacCommand::DutyCycleAns
        | MacCommand::AdrParamSetupAns
        | MacCommand::RejoinParamSetupAns(_) => {
            answer_requests(session, out, block, |_, _, _| true);
        }
        MacCommand::RxParamSetupAns(_) => {
            out.downlink_required = true;
            answer_requests(session, out, block, |s, req, ans| match (req, ans) {
                (MacCommand::RxParamSetupReq(r), MacCommand::RxParamSetupAns(a))
                    if a.rx1_dr_offset_ack && a.rx2_data_rate_ack && a.channel_ack =>
                {
                    s.rx1_dr_offset = r.rx1_dr_offset;
                    s.rx2_dr = r.rx2_data_rate;
                    s.rx2_frequency = r.frequency;
                    true
                }
                _ => false,
            });
        }
        MacCommand::DevStatusAns(ans) => {
            // Answered whether or not it was asked for: a status is news.
            let _ = take_pending(session, first.cid());
            let status = DeviceStatus::from_answer(&ans);
            tracing::info!(
                battery = ans.battery,
                margin = ans.margin,
                "DevStatusAns received"
            );
            out.status = Some(status);
        }
        MacCommand::NewChannelAns(_) => {
            answer_requests(session, out, block, |s, req, ans| match (req, ans) {
                (MacCommand::NewChannelReq(r), MacCommand::NewChannelAns(a))
                    if a.data_rate_range_ok && a.channel_frequency_ok =>
                {
                    if !channels::apply_new_channel(params, s, r) {
                        tracing::warn!(
                            ch_index = r.ch_index,
                            "acknowledged NewChannelReq names no channel slot of the plan"
                        );
                    }
                    true
                }
                _ => false,
            });
        }
        MacCommand::RxTimingSetupAns => {
            out.downlink_required = true;
            answer_requests(session, out, block, |s, req, _| {
                if let MacCommand::RxTimingSetupReq(r) = req {
                    s.rx1_delay = r.delay;
                }
                true
            });
        }
        MacCommand::TxParamSetupAns => {
            answer_requests(session, out, block, |s, req, _| {
                if let MacCommand::TxParamSetupReq(r) = req {
                    s.uplink_dwell_time_400ms = r.uplink_dwell_time;
                    s.downlink_dwell_time_400ms = r.downlink_dwell_time;
                    s.uplink_max_eirp_index = r.max_eirp;
                }
                true
            });
        }
        MacCommand::DlChannelAns(_) => {
            out.downlink_required = true;
            answer_requests(
                session,
                out,
                block,
                |_, _, ans| matches!(ans, MacCommand::DlChannelAns(a) if a.uplink_frequency_exists && a.channel_frequency_ok),
            );
        }
        MacCommand::DeviceTimeReq => {
            out.answers
                .push(MacCommand::DeviceTimeAns(device_time(now, uplink.rx_infos)));
        }
        MacCommand::ResetInd(ind) => {
            if session.mac_version.is_1_1() && !profile.supports_otaa {
                reset_session(session, profile, params);
                tracing::info!(
                    device_minor = ind.minor,
                    "ResetInd: session back to boot settings"
                );
                out.answers.push(MacCommand::ResetConf(ResetConf {
                    minor: ind.minor.min(config.server_minor_version),
                }));
            } else {
                ignore_all(out, block, IgnoreReason::NotForThisDevice);
            }
        }
        MacCommand::RekeyInd(ind) => {
            if session.mac_version.is_1_1() {
                out.answers.push(MacCommand::RekeyConf(RekeyConf {
                    minor: ind.minor.min(config.server_minor_version),
                }));
            } else {
                ignore_all(out, block, IgnoreReason::NotForThisDevice);
            }
        }
        MacCommand::DeviceModeInd(_) => {
            // The device switches at once; the last indication holds.
            if let Some(MacCommand::DeviceModeInd(ind)) = block.last() {
                out.device_class = Some(match ind.class {
                    ModeClass::A => DeviceClass::A,
                    ModeClass::C => DeviceClass::C,
                });
                out.answers.push(MacCommand::DeviceModeConf(DeviceModeConf {
                    class: ind.class,
                }));
            }
        }
        _ => ignore_all(out, block, IgnoreReason::NotHandled),
    }
}

fn ignore(out: &mut MacOutcome, command: &MacCommand, reason: IgnoreReason) {
    tracing::debug!(command = command.name(), ?reason, "MAC command ignored");
    out.events.push(MacEvent::Ignored {
        command: *command,
        reason,
    });
}

fn ignore_all(out: &mut MacOutcome, block: &[MacCommand], reason: IgnoreReason) {
    for c in block {
        ignore(out, c, reason);
    }
}

fn count_error(session: &mut DeviceSession, cid: u8) -> u32 {
    let n = session.mac_command_error_count.entry(cid).or_insert(0);
    *n = n.saturating_add(1);
    *n
}

/// Pairs the answers of one CID with the pending requests in order;
/// `apply` takes an acknowledged pair into the session and says whether
/// it was one.
fn answer_requests(
    session: &mut DeviceSession,
    out: &mut MacOutcome,
    answers: &[MacCommand],
    mut apply: impl FnMut(&mut DeviceSession, &MacCommand, &MacCommand) -> bool,
) {
    let Some(cid) = answers.first().map(MacCommand::cid) else {
        return;
    };
    let Some(pending) = take_pending(session, cid) else {
        ignore_all(out, answers, IgnoreReason::NoPendingRequest);
        return;
    };
    for (i, answer) in answers.iter().enumerate() {
        let Some(request) = pending.get(i) else {
            ignore(out, answer, IgnoreReason::NoMatchingRequest);
            continue;
        };
        if apply(session, request, answer) {
            session.mac_command_error_count.remove(&cid);
            tracing::info!(
                command = request.name(),
                ?request,
                "MAC command acknowledged"
            );
            out.events.push(MacEvent::Acknowledged {
                request: *request,
                answer: *answer,
            });
        } else {
            let error_count = count_error(session, cid);
            tracing::warn!(
                command = request.name(),
                ?request,
                ?answer,
                error_count,
                "MAC command refused"
            );
            out.events.push(MacEvent::Rejected {
                request: *request,
                answer: *answer,
                error_count,
            });
        }
    }
}

fn link_adr_ans(
    session: &mut DeviceSession,
    params: &'static RegionParams,
    answers: &[MacCommand],
    out: &mut MacOutcome,
) {
    let Some(cid) = answers.first().map(MacCommand::cid) else {
        return;
    };
    let pending = take_pending(session, cid).unwrap_or_default();
    let reqs = link_adr_reqs(&pending);
    let Some(last) = reqs.last().copied() else {
        ignore_all(out, answers, IgnoreReason::NoPendingRequest);
        return;
    };
    let all = answers
        .iter()
        .filter_map(|a| match a {
            MacCommand::LinkAdrAns(a) => Some(*a),
            _ => None,
        })
        .fold(
            LinkAdrAns {
                power_ack: true,
                data_rate_ack: true,
                channel_mask_ack: true,
            },
            |acc, a| LinkAdrAns {
                power_ack: acc.power_ack && a.power_ack,
                data_rate_ack: acc.data_rate_ack && a.data_rate_ack,
                channel_mask_ack: acc.channel_mask_ack && a.channel_mask_ack,
            },
        );
    // One LinkADRAns per LinkADRReq; a short block answers with its last.
    let answer_for = |i: usize| {
        answers
            .get(i)
            .or(answers.last())
            .copied()
            .unwrap_or(MacCommand::LinkAdrAns(all))
    };
    let accepted = all.power_ack && all.data_rate_ack && all.channel_mask_ack;
    let mask_only = !accepted && !session.adr && all.channel_mask_ack;

    if accepted || mask_only {
        session.mac_command_error_count.remove(&cid);
        let device = channels::device_channels(params, session);
        match channels::channels_after(&device, &reqs) {
            Some(set) => session.enabled_uplink_channel_indices = channels::indices(&set),
            None => tracing::warn!(
                ?reqs,
                "acknowledged LinkADRReq masks do not apply to the session's channels; channels kept"
            ),
        }
        let before = (session.dr, session.tx_power_index, session.nb_trans);
        if last.data_rate != 15 && all.data_rate_ack {
            session.dr = last.data_rate;
        }
        if last.tx_power != 15 && all.power_ack {
            session.tx_power_index = last.tx_power;
        }
        if last.nb_trans != 0 {
            session.nb_trans = last.nb_trans;
        }
        if (session.dr, session.tx_power_index, session.nb_trans) != before {
            session.uplink_adr_history.clear();
        }
        tracing::info!(
            dr = session.dr,
            tx_power_index = session.tx_power_index,
            nb_trans = session.nb_trans,
            channels = ?session.enabled_uplink_channel_indices,
            mask_only,
            "LinkADRReq acknowledged"
        );
        for (i, request) in reqs.iter().enumerate() {
            let answer = answer_for(i);
            out.events.push(MacEvent::Acknowledged {
                request: MacCommand::LinkAdrReq(*request),
                answer,
            });
        }
    } else {
        let error_count = count_error(session, cid);
        // A device may not support every power index: the next requests stay
        // below the one it refused (ChirpStack).
        if !all.power_ack && last.tx_power > 0 && last.tx_power != 15 {
            session.max_supported_tx_power_index = last.tx_power - 1;
        }
        tracing::warn!(?all, error_count, "LinkADRReq refused");
        for (i, request) in reqs.iter().enumerate() {
            let answer = answer_for(i);
            out.events.push(MacEvent::Rejected {
                request: MacCommand::LinkAdrReq(*request),
                answer,
                error_count,
            });
        }
    }
    for extra in answers.iter().skip(reqs.len()) {
        ignore(out, extra, IgnoreReason::NoMatchingRequest);
    }
}

fn link_check(params: &RegionParams, uplink: &UplinkInfo<'_>) -> LinkCheckAns {
    let required = match params.data_rate(uplink.dr).map(|d| d.modulation) {
        Some(Modulation::Lora {
            spreading_factor, ..
        }) => required_snr(spreading_factor),
        _ => None,
    };
    let margin = required.map_or(0.0, |required| {
        uplink
            .rx_infos
            .iter()
            .map(|r| r.snr - required)
            .filter(|m| m.is_finite())
            .fold(0.0_f32, f32::max)
    });
    LinkCheckAns {
        // Whole dB; 255 is reserved.
        margin: margin.min(254.0) as u8,
        gw_cnt: u8::try_from(uplink.rx_infos.len()).unwrap_or(u8::MAX),
    }
}

/// The GPS time of the uplink.
fn device_time(now: SystemTime, rx_infos: &[gw::UplinkRxInfo]) -> DeviceTimeAns {
    let from_gateway = rx_infos
        .iter()
        .filter_map(|r| r.time_since_gps_epoch.as_ref())
        .find_map(|d| {
            let seconds = u64::try_from(d.seconds).ok()?;
            let nanos = u32::try_from(d.nanos).ok().filter(|&n| n < 1_000_000_000)?;
            Some(Duration::new(seconds, nanos))
        });
    let gps = from_gateway.unwrap_or_else(|| {
        let unix = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Duration::from_micros(u64::try_from(gps_time_us(unix)).unwrap_or(0))
    });
    DeviceTimeAns {
        // The field holds 32 bits; it wraps in 2116.
        seconds: gps.as_secs() as u32,
        fractional_second: (u64::from(gps.subsec_nanos()) * 256 / 1_000_000_000) as u8,
    }
}

fn reset_session(session: &mut DeviceSession, profile: &DeviceProfile, params: &RegionParams) {
    session.rx1_delay = profile.abp_rx1_delay;
    session.rx1_dr_offset = profile.abp_rx1_dr_offset;
    session.rx2_dr = profile.abp_rx2_dr;
    session.rx2_frequency = profile.abp_rx2_frequency;
    session.tx_power_index = 0;
    session.nb_trans = 1;
    session.max_supported_tx_power_index = 0;
    session.enabled_uplink_channel_indices = channels::default_indices(params);
    session.extra_uplink_channels.clear();
    session.uplink_adr_history.clear();
    session.mac_command_pending.clear();
    session.mac_command_error_count.clear();
    session.uplink_dwell_time_400ms = params.default_dwell_time;
    session.downlink_dwell_time_400ms =
        params.default_dwell_time && params.rx1_dr_dwell_time.is_some();
    session.uplink_max_eirp_index = 0;
}
