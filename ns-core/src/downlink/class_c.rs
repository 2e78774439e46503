//! Class C downlinks: a queue item sent at once, in RX2, without an uplink
//! to answer.
//!
//! ChirpStack's rules (`downlink/data.rs`, `handle_schedule_next_queue_item`):
//! - **Window**: the session's RX2 frequency and data rate; the gateway
//!   sends `Immediately`.
//! - **Gateway**: chosen from the receptions of the device's last uplink
//!   ([`DeviceGatewayRxInfo`]) as for class A ([`select_downlink_gateway`]),
//!   with that gateway's board, antenna and `context`.
//! - **Queue**: as class A ([`super::ClassARequest::queue`]): a pending
//!   confirmed item past its timeout is dropped (an `ack` event with
//!   `acknowledged = false`), one within it blocks the queue; expired items
//!   and items larger than RX2 can carry are dropped; the first item left
//!   is sent, with FPending when more wait.
//! - **Frame**: the queue item alone (no MAC commands: they ride on class
//!   A downlinks, where the uplink that carries their answers is near), no
//!   FCtrl.ACK; a confirmed item is a ConfirmedDataDown whose pending state
//!   times out after the profile's `class_c_timeout`.
//! - Nothing to send gives no plan.

use std::time::SystemTime;

use lorawan::Eui64;
use lorawan::phy::{FCtrl, MType};
use lorawan::region::Network;
use packet_forwarder::gw;
use rand::{Rng, RngExt};

use super::{
    DiscardedItem, DownlinkError, DownlinkPlan, DownlinkSettings, FCntDownCounter, PlannedItem,
    SentQueueItem, TxAckContext, Window, frame, max_payload, next_queue_item,
    select_downlink_gateway, uplink_required_snr,
};
use crate::downlink_timing;
use crate::model::{DeviceGatewayRxInfo, DeviceProfile, DeviceSession, QueueItem};

/// Everything [`class_c_downlink`] reads.
#[derive(Debug, Clone)]
pub struct ClassCRequest<'a> {
    /// The device.
    pub dev_eui: Eui64,
    /// Its session as stored (the downlink counters are read from it).
    pub session: &'a DeviceSession,
    /// Its profile (payload limits, `class_c_timeout`).
    pub profile: &'a DeviceProfile,
    /// The region configuration of the session.
    pub network: &'a Network,
    /// The downlink settings of that region configuration (power, ADR,
    /// gateway margin).
    pub settings: &'a DownlinkSettings,
    /// The gateways that heard the device's last uplink.
    pub gateways: &'a DeviceGatewayRxInfo,
    /// The device's queue, oldest first; FPending is set when items wait
    /// after the one sent, so pass at least two items when there are.
    pub queue: &'a [QueueItem],
}

/// The outcome of [`class_c_downlink`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ClassCResponse {
    /// The downlink, unless there is nothing to send.
    pub plan: Option<DownlinkPlan>,
    /// Queue items to delete (with their `log` or `ack` event), whether or
    /// not a downlink goes out.
    pub discarded: Vec<DiscardedItem>,
}

/// The class C downlink of the device's next queue item, sent at once in
/// RX2.
///
/// The rules are ChirpStack's: the session's RX2 frequency and data rate,
/// `Immediately` timing; the gateway chosen among those that heard the
/// device's last uplink as for class A ([`select_downlink_gateway`]), with
/// its board, antenna and `context`; the queue rules of class A (a pending
/// item past its timeout dropped as not acknowledged, one within it blocks
/// the queue; expired and too large items dropped; FPending when more
/// wait); the item alone in the frame, no FCtrl.ACK, no MAC commands; a
/// confirmed item waits for its ACK up to the profile's `class_c_timeout`.
///
/// `now` decides expiry and timeouts; `rng` picks the gateway among the
/// good ones and the `downlink_id`.
///
/// # Errors
///
/// [`DownlinkError`] when there is an item to send but no gateway heard
/// the device, or RX2's data rate has no payload limit or is no downlink
/// data rate. Nothing is to be changed then, queue included.
///
/// ```
/// use lorawan::region::{Region, RegionConfig, Revision};
/// use lorawan::Eui64;
/// use ns_core::downlink::{self, ClassCRequest, DownlinkSettings};
/// use ns_core::model::{DeviceGatewayRxInfo, DeviceProfile, MacVersion, QueueItem};
/// use packet_forwarder::gw;
/// use rand::{SeedableRng, rngs::StdRng};
/// use uuid::Uuid;
///
/// let network = RegionConfig { id: "eu868".into(), common_name: Some(Region::Eu868), ..Default::default() }
///     .resolve()?;
/// let profile = DeviceProfile::new(
///     Uuid::nil(), "sensors", Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_3,
/// );
/// # let session: ns_core::model::DeviceSession = serde_json::from_value(serde_json::json!({
/// #     "dev_addr": "26011234", "mac_version": "1.0.3",
/// #     "f_nwk_s_int_key": "01010101010101010101010101010101",
/// #     "s_nwk_s_int_key": "01010101010101010101010101010101",
/// #     "nwk_s_enc_key": "01010101010101010101010101010101",
/// #     "app_s_key": "02020202020202020202020202020202",
/// #     "f_cnt_up": 11, "n_f_cnt_down": 5, "a_f_cnt_down": 0, "conf_f_cnt": 0,
/// #     "rx1_delay": 1, "rx1_dr_offset": 0, "rx2_dr": 0, "rx2_frequency": 869525000,
/// #     "enabled_uplink_channel_indices": [0, 1, 2], "extra_uplink_channels": [],
/// #     "adr": true, "dr": 5, "tx_power_index": 0, "nb_trans": 1,
/// #     "max_supported_tx_power_index": 0, "uplink_adr_history": [],
/// #     "mac_command_pending": [], "mac_command_error_count": {},
/// #     "last_device_status_request": null, "region_config_id": "eu868",
/// #     "uplink_dwell_time_400ms": false, "downlink_dwell_time_400ms": false,
/// #     "uplink_max_eirp_index": 0
/// # }))?;
/// // The device's last uplink (DR5) was heard by one gateway.
/// let heard = [gw::UplinkRxInfo { gateway_id: "0101010101010101".into(), snr: 7.0, ..Default::default() }];
/// let gateways = DeviceGatewayRxInfo::from_rx_infos("eu868", 5, &heard);
/// let queue = [QueueItem::new(Eui64::from_u64(1), 10, false, b"on".to_vec())];
/// let request = ClassCRequest {
///     dev_eui: Eui64::from_u64(1),
///     session: &session,
///     profile: &profile,
///     network: &network,
///     settings: &DownlinkSettings::default(),
///     gateways: &gateways,
///     queue: &queue,
/// };
/// let mut rng = StdRng::seed_from_u64(1);
/// let response = downlink::class_c_downlink(std::time::SystemTime::now(), &request, &mut rng)?;
/// let plan = response.plan.expect("an item to send");
/// let tx_info = plan.frame.items[0].tx_info.as_ref().unwrap();
/// assert_eq!(tx_info.frequency, 869_525_000); // RX2
/// assert!(matches!(
///     tx_info.timing.as_ref().and_then(|t| t.parameters.as_ref()),
///     Some(gw::timing::Parameters::Immediately(_))
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn class_c_downlink<R: Rng + ?Sized>(
    now: SystemTime,
    request: &ClassCRequest<'_>,
    rng: &mut R,
) -> Result<ClassCResponse, DownlinkError> {
    let ClassCRequest {
        dev_eui,
        session,
        profile,
        network,
        settings,
        gateways,
        queue,
    } = *request;
    let frequency = session.rx2_frequency;
    let dr = session.rx2_dr;
    let limit = max_payload(session, profile, network, dr)?;
    let (item, more_items, discarded) = next_queue_item(now, queue, limit);
    let Some(item) = item else {
        return Ok(ClassCResponse {
            plan: None,
            discarded,
        });
    };

    let params = network.params;
    let rx_infos = gateways.to_rx_infos();
    let gateway = select_downlink_gateway(
        &rx_infos,
        uplink_required_snr(params, gateways.dr),
        settings.gateway_prefer_min_margin,
        rng,
    )
    .ok_or(DownlinkError::NoGateway)?;
    let tx_info = downlink_timing::immediate_tx_info(
        params,
        gateway.rx_info,
        frequency,
        dr,
        settings.downlink_tx_power,
    )?;

    let counter = if session.mac_version.is_1_1() {
        FCntDownCounter::Application
    } else {
        FCntDownCounter::Network
    };
    let f_cnt = match counter {
        FCntDownCounter::Network => session.n_f_cnt_down,
        FCntDownCounter::Application => session.a_f_cnt_down,
    };
    let mtype = if item.confirmed {
        MType::ConfirmedDataDown
    } else {
        MType::UnconfirmedDataDown
    };
    let fctrl = FCtrl::default()
        .with_adr(!settings.adr_disabled)
        .with_f_pending(more_items);
    let phy_payload = frame::build(
        session,
        &frame::Plain {
            mtype,
            fctrl,
            f_cnt,
            fopts: &[],
            fport: Some(item.f_port),
            frm_payload: &item.data,
            acked_f_cnt_up: 0,
        },
    )?;

    // 0 reads as "unset" in protobuf and in some gateway bridges.
    let downlink_id = rng.random_range(1..=u32::MAX);
    let gateway_id = gateway.gateway_id().to_string();
    Ok(ClassCResponse {
        plan: Some(DownlinkPlan {
            frame: gw::DownlinkFrame {
                downlink_id,
                items: vec![gw::DownlinkFrameItem {
                    phy_payload,
                    tx_info_legacy: None,
                    tx_info: Some(tx_info.clone()),
                }],
                gateway_id: gateway_id.clone(),
                ..Default::default()
            },
            tx_ack: TxAckContext {
                downlink_id,
                dev_eui,
                gateway_id,
                pending_timeout: Some(profile.class_c_timeout),
                items: vec![PlannedItem {
                    window: Window::Rx2,
                    counter,
                    f_cnt_down: f_cnt,
                    f_port: Some(item.f_port),
                    queue_item: Some(SentQueueItem {
                        id: item.id,
                        confirmed: item.confirmed,
                        f_port: item.f_port,
                    }),
                    mac_commands_len: 0,
                    f_pending: more_items,
                    tx_info,
                }],
            },
        }),
        discarded,
    })
}
