//! The requests the network server sends: from the differences between a
//! session and the settings wanted for it, and from ADR.

use std::time::{Duration, SystemTime};

use lorawan::mac::{
    AdrParamSetupReq, DlChannelReq, DutyCycleReq, LinkAdrReq, MacCommand, RejoinParamSetupReq,
    RxParamSetupReq, RxTimingSetupReq, TxParamSetupReq,
};
use lorawan::region::{Channel, ChannelPlan, Network, RegionParams};

use super::{MacConfig, channels, encodes, record_pending, select};
use crate::adr::{self, AdrRegistry, AdrRequest};
use crate::model::{DeviceProfile, DeviceSession, MacVersion};

const LINK_ADR: u8 = 0x03;
const NEW_CHANNEL: u8 = 0x07;
const DEV_STATUS: u8 = 0x06;

/// What the network wants a device's settings to be: its region
/// configuration's, plus what ChirpStack never sends but an operator may
/// ask for.
///
/// [`from_network`](Self::from_network) fills it from a resolved region
/// configuration; a driver keeps one per region and clones it to add a
/// device's own wishes. The `Option` and list settings at the end are
/// one-shot: each is requested until the device answers, and the driver
/// clears it when [`handle_uplink`](super::handle_uplink) reports the
/// answer (the session has no field to compare them with).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DesiredSettings {
    /// The region tables of the network configuration.
    pub params: &'static RegionParams,
    /// The uplink channels to enable, by the network's index (a dynamic
    /// plan's defaults, then its extra channels) with their channel.
    pub uplink_channels: Vec<(usize, Channel)>,
    /// RX1 delay, seconds (0 counts as 1).
    pub rx1_delay: u8,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_dr: u8,
    /// RX2 frequency, Hz.
    pub rx2_frequency: u32,
    /// 400 ms uplink dwell time (TXParamSetupReq).
    pub uplink_dwell_time_400ms: bool,
    /// 400 ms downlink dwell time (TXParamSetupReq).
    pub downlink_dwell_time_400ms: bool,
    /// The MaxEIRP index (TXParamSetupReq); see [`max_eirp_index`](Self::max_eirp_index).
    pub uplink_max_eirp_index: u8,
    /// The lowest data rate ADR may choose.
    pub min_dr: u8,
    /// The highest data rate ADR may choose.
    pub max_dr: u8,
    /// ADR off for the whole region (ChirpStack's `adr_disabled`).
    pub adr_disabled: bool,
    /// The ADR installation margin, dB (default 10).
    pub installation_margin: f32,
    /// One-shot: a DutyCycleReq to send.
    pub duty_cycle: Option<DutyCycleReq>,
    /// One-shot: DlChannelReq to send (dynamic plans, LoRaWAN 1.0.2 on).
    pub dl_channels: Vec<DlChannelReq>,
    /// One-shot: an ADRParamSetupReq to send (LoRaWAN 1.1).
    pub adr_param_setup: Option<AdrParamSetupReq>,
    /// One-shot: a RejoinParamSetupReq to send (LoRaWAN 1.1).
    pub rejoin_param_setup: Option<RejoinParamSetupReq>,
}

impl DesiredSettings {
    /// The settings of a resolved region configuration.
    pub fn from_network(network: &Network) -> Self {
        Self {
            params: network.params,
            uplink_channels: network.uplink_channels.clone(),
            rx1_delay: network.rx1_delay,
            rx1_dr_offset: network.rx1_dr_offset,
            rx2_dr: network.rx2_dr,
            rx2_frequency: network.rx2_frequency,
            uplink_dwell_time_400ms: network.uplink_dwell_time_400ms,
            downlink_dwell_time_400ms: network.downlink_dwell_time_400ms,
            uplink_max_eirp_index: Self::max_eirp_index(network.uplink_max_eirp),
            min_dr: network.min_dr,
            max_dr: network.max_dr,
            adr_disabled: false,
            installation_margin: adr::DEFAULT_INSTALLATION_MARGIN,
            duty_cycle: None,
            dl_channels: Vec::new(),
            adr_param_setup: None,
            rejoin_param_setup: None,
        }
    }

    /// The TXParamSetupReq MaxEIRP index of an EIRP in dBm: the highest
    /// whose value does not exceed it (0, 8 dBm, below the table).
    ///
    /// ```
    /// use ns_core::mac::DesiredSettings;
    /// assert_eq!(DesiredSettings::max_eirp_index(16.0), 5);
    /// assert_eq!(DesiredSettings::max_eirp_index(15.0), 4);
    /// assert_eq!(DesiredSettings::max_eirp_index(40.0), 15);
    /// ```
    pub fn max_eirp_index(dbm: f32) -> u8 {
        (0..16u8)
            .filter(|&i| {
                TxParamSetupReq {
                    downlink_dwell_time: false,
                    uplink_dwell_time: false,
                    max_eirp: i,
                }
                .max_eirp_dbm()
                .is_some_and(|v| f32::from(v) <= dbm)
            })
            .max()
            .unwrap_or(0)
    }
}

/// The requests for this downlink, at most `max_bytes` of them (the room
/// left in FOpts, or in an FPort 0 payload, after the answers), recorded as
/// pending in the session.
///
/// In ChirpStack's priority order:
/// 1. NewChannelReq for the enabled extra channels the device lacks or has
///    with other data rates (dynamic plans; at most
///    [`MacConfig::max_new_channel_reqs`]);
/// 2. LinkADRReq: the shortest block of the region's channel-mask encoding
///    that turns the device's enabled channels into the network's, carrying
///    the data rate, power and NbTrans of the profile's ADR algorithm (run
///    on the session's history unless ADR is disabled for the region) —
///    one command restating the mask when only ADR changes; a device with
///    ADR off keeps its data rate and power (DataRate and TXPower 15 from
///    LoRaWAN 1.0.4 on, its current ones before);
/// 3. DevStatusReq, `device_status_req_interval` times a day;
/// 4. RejoinParamSetupReq (1.1, one-shot);
/// 5. RXParamSetupReq and RXTimingSetupReq when the RX settings differ;
/// 6. TXParamSetupReq when the dwell times or MaxEIRP differ, where the
///    region implements it (LoRaWAN 1.0.2 on);
/// 7. DutyCycleReq, DlChannelReq, ADRParamSetupReq (one-shot).
///
/// A CID whose error count is over the limit is skipped; a command whose
/// values cannot be encoded is skipped and logged. The selection is
/// [`select`]'s. A request equal to the pending one of its CID counts one
/// more attempt; DevStatusReq sets `last_device_status_request` to `now`.
pub fn requests(
    now: SystemTime,
    session: &mut DeviceSession,
    profile: &DeviceProfile,
    desired: &DesiredSettings,
    config: &MacConfig,
    adr: &AdrRegistry,
    max_bytes: usize,
) -> Vec<MacCommand> {
    let params = channels::device_params(profile, Some(desired.params));
    let mut planned: Vec<MacCommand> = Vec::new();
    let allows = |cid: u8| config.allows(session, cid);

    if allows(NEW_CHANNEL) {
        planned.extend(
            channels::new_channel_reqs(
                params,
                session,
                &desired.uplink_channels,
                config.max_new_channel_reqs,
            )
            .into_iter()
            .map(MacCommand::NewChannelReq),
        );
    }
    if allows(LINK_ADR) {
        planned.extend(
            link_adr_block(session, profile, desired, params, adr)
                .into_iter()
                .map(MacCommand::LinkAdrReq),
        );
    }
    if allows(DEV_STATUS) && dev_status_due(now, session, profile) {
        planned.push(MacCommand::DevStatusReq);
    }
    let v1_1 = session.mac_version.is_1_1();
    if let Some(req) = desired.rejoin_param_setup.filter(|_| v1_1) {
        planned.push(MacCommand::RejoinParamSetupReq(req));
    }
    planned.extend(rx_settings(session, desired));
    if params.tx_param_setup && session.mac_version >= MacVersion::V1_0_2 {
        let req = TxParamSetupReq {
            downlink_dwell_time: desired.downlink_dwell_time_400ms,
            uplink_dwell_time: desired.uplink_dwell_time_400ms,
            max_eirp: desired.uplink_max_eirp_index,
        };
        let current = (
            session.downlink_dwell_time_400ms,
            session.uplink_dwell_time_400ms,
            session.uplink_max_eirp_index,
        );
        if current != (req.downlink_dwell_time, req.uplink_dwell_time, req.max_eirp) {
            planned.push(MacCommand::TxParamSetupReq(req));
        }
    }
    if let Some(req) = desired.duty_cycle {
        planned.push(MacCommand::DutyCycleReq(req));
    }
    let dynamic = matches!(params.channel_plan, ChannelPlan::Dynamic { .. });
    if dynamic && session.mac_version >= MacVersion::V1_0_2 {
        planned.extend(
            desired
                .dl_channels
                .iter()
                .copied()
                .map(MacCommand::DlChannelReq),
        );
    }
    if let Some(req) = desired.adr_param_setup.filter(|_| v1_1) {
        planned.push(MacCommand::AdrParamSetupReq(req));
    }

    planned.retain(|c| {
        let ok = allows(c.cid()) && encodes(c);
        if !ok && allows(c.cid()) {
            tracing::warn!(
                command = c.name(),
                ?c,
                "MAC command values cannot be encoded"
            );
        }
        ok
    });
    let selected = select(&planned, max_bytes);
    record_pending(session, &selected);
    if selected.contains(&MacCommand::DevStatusReq) {
        session.last_device_status_request = Some(now);
    }
    selected
}

fn dev_status_due(now: SystemTime, session: &DeviceSession, profile: &DeviceProfile) -> bool {
    let per_day = profile.device_status_req_interval;
    if per_day == 0 {
        return false;
    }
    let interval = Duration::from_secs(86_400) / per_day;
    match session.last_device_status_request {
        None => true,
        // A clock that went back counts as no time passed.
        Some(last) => now.duration_since(last).unwrap_or_default() >= interval,
    }
}

fn rx_settings(session: &DeviceSession, desired: &DesiredSettings) -> Vec<MacCommand> {
    let mut out = Vec::new();
    let rx = (session.rx1_dr_offset, session.rx2_dr, session.rx2_frequency);
    if rx != (desired.rx1_dr_offset, desired.rx2_dr, desired.rx2_frequency) {
        out.push(MacCommand::RxParamSetupReq(RxParamSetupReq {
            rx1_dr_offset: desired.rx1_dr_offset,
            rx2_data_rate: desired.rx2_dr,
            frequency: desired.rx2_frequency,
        }));
    }
    if session.rx1_delay.max(1) != desired.rx1_delay.max(1) {
        out.push(MacCommand::RxTimingSetupReq(RxTimingSetupReq {
            delay: desired.rx1_delay,
        }));
    }
    out
}

/// The LinkADRReq block for channel-mask differences and ADR; empty when
/// neither asks for one.
fn link_adr_block(
    session: &DeviceSession,
    profile: &DeviceProfile,
    desired: &DesiredSettings,
    params: &'static RegionParams,
    adr: &AdrRegistry,
) -> Vec<LinkAdrReq> {
    let device = channels::device_channels(params, session);
    let wanted = channels::wanted_channels(params, session, &desired.uplink_channels);
    let masks: Vec<_> = if wanted.is_empty() || wanted == device.enabled() {
        Vec::new()
    } else {
        match device.link_adr_block(&wanted) {
            Ok(block) => block.as_slice().to_vec(),
            Err(e) => {
                tracing::warn!(error = %e, "no channel mask gives the network's channels");
                Vec::new()
            }
        }
    };

    let current = (session.dr, session.tx_power_index, session.nb_trans);
    let wanted_settings = if desired.adr_disabled {
        current
    } else {
        let enabled_data_rates: Vec<u8> = (0..16u8)
            .filter(|&dr| params.data_rate(dr).is_some_and(|d| d.uplink))
            .filter(|dr| {
                desired
                    .uplink_channels
                    .iter()
                    .any(|(_, c)| (c.min_dr..=c.max_dr).contains(dr))
            })
            .collect();
        let request = AdrRequest {
            params,
            adr: session.adr,
            dr: session.dr,
            tx_power_index: session.tx_power_index,
            nb_trans: session.nb_trans,
            max_tx_power_index: match session.max_supported_tx_power_index {
                0 => adr::max_tx_power_index(params),
                n => n,
            },
            required_snr_for_dr: adr::required_snr_for_dr(params, session.dr),
            installation_margin: desired.installation_margin,
            min_dr: desired.min_dr,
            max_dr: desired.max_dr,
            enabled_data_rates: &enabled_data_rates,
            uplink_history: &session.uplink_adr_history,
        };
        let r = adr.handle(&profile.adr_algorithm_id, &request);
        (r.dr, r.tx_power_index, r.nb_trans)
    };
    let adr_change = wanted_settings != current;
    if masks.is_empty() && !adr_change {
        return Vec::new();
    }

    let (data_rate, tx_power, nb_trans) = if adr_change || session.adr {
        wanted_settings
    } else if session.mac_version >= MacVersion::V1_0_4 {
        // 15 keeps the current data rate and power, NbTrans 0 the current
        // NbTrans: nothing for a device with ADR off to refuse.
        (15, 15, 0)
    } else {
        current
    };
    let masks = if masks.is_empty() {
        vec![channels::restating_mask(&device)]
    } else {
        masks
    };
    masks
        .into_iter()
        .map(|(ch_mask, ch_mask_cntl)| LinkAdrReq {
            data_rate,
            tx_power,
            ch_mask,
            ch_mask_cntl,
            nb_trans,
        })
        .collect()
}
