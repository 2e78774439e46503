//! Events built from our records and plain values, the way ChirpStack fills
//! them in.

use std::collections::BTreeMap;
use std::time::SystemTime;

use lorawan::{DevAddr, Eui64};
use packet_forwarder::gw::{self, common};
use uuid::Uuid;

use super::{
    AckEvent, DeviceInfo, JoinEvent, LocationEvent, LogCode, LogEvent, LogLevel, StatusEvent,
    TxAckEvent, UplinkEvent, timestamp,
};
use crate::model::{self, Application, Device, DeviceProfile, Tenant};

/// The [`DeviceInfo`] every event carries: who the device is and what it
/// belongs to.
///
/// Tags are left empty: our records do not have tags yet (ChirpStack merges
/// the profile's and the device's, the device's winning); set
/// [`DeviceInfo::tags`] afterwards when they do.
///
/// ```
/// use ns_core::integration::device_info;
/// use ns_core::model::{Application, Device, DeviceProfile, MacVersion, Tenant};
/// use lorawan::{Eui64, region::{Region, Revision}};
///
/// let tenant = Tenant::new("acme");
/// let application = Application::new(tenant.id, "meters");
/// let profile = DeviceProfile::new(tenant.id, "eu868", Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
/// let device = Device::new(Eui64::from_u64(0x0102030405060708), application.id, profile.id, "meter-1");
///
/// let info = device_info(&tenant, &application, &profile, &device);
/// assert_eq!(info.dev_eui, "0102030405060708");
/// assert_eq!(info.application_id, application.id.to_string());
/// assert_eq!(info.device_name, "meter-1");
/// ```
#[must_use]
pub fn device_info(
    tenant: &Tenant,
    application: &Application,
    device_profile: &DeviceProfile,
    device: &Device,
) -> DeviceInfo {
    DeviceInfo {
        tenant_id: tenant.id.to_string(),
        tenant_name: tenant.name.clone(),
        application_id: application.id.to_string(),
        application_name: application.name.clone(),
        device_profile_id: device_profile.id.to_string(),
        device_profile_name: device_profile.name.clone(),
        device_name: device.name.clone(),
        dev_eui: device.dev_eui.to_string(),
        device_class_enabled: device_class(device.enabled_class).into(),
        tags: BTreeMap::new(),
    }
}

const fn device_class(class: model::DeviceClass) -> common::DeviceClass {
    match class {
        model::DeviceClass::A => common::DeviceClass::ClassA,
        model::DeviceClass::B => common::DeviceClass::ClassB,
        model::DeviceClass::C => common::DeviceClass::ClassC,
    }
}

/// What an [`UplinkEvent`] says about a data uplink: the values the uplink
/// path has once the frame is accepted and decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplink {
    /// The frame set's de-duplication ID.
    pub deduplication_id: Uuid,
    /// When the uplink was received.
    pub time: SystemTime,
    /// The DevAddr of the frame.
    pub dev_addr: DevAddr,
    /// The frame's ADR bit.
    pub adr: bool,
    /// The data rate it was received at.
    pub dr: u8,
    /// The full 32-bit FCntUp.
    pub f_cnt: u32,
    /// The FPort (0 when the frame has none).
    pub f_port: u8,
    /// A confirmed data uplink.
    pub confirmed: bool,
    /// The decrypted FRMPayload.
    pub data: Vec<u8>,
    /// The receiving gateways' metadata.
    pub rx_info: Vec<gw::UplinkRxInfo>,
    /// Frequency and modulation.
    pub tx_info: gw::UplinkTxInfo,
    /// The region configuration it was received under.
    pub region_config_id: String,
}

/// The `up` event of a data uplink. No decoded `object`: payload codecs are
/// not supported yet.
///
/// See the [module example](super) for a complete call.
#[must_use]
pub fn uplink_event(device_info: DeviceInfo, uplink: Uplink) -> UplinkEvent {
    UplinkEvent {
        deduplication_id: uplink.deduplication_id.to_string(),
        time: Some(timestamp(uplink.time)),
        device_info: Some(device_info),
        dev_addr: uplink.dev_addr.to_string(),
        adr: uplink.adr,
        dr: uplink.dr.into(),
        f_cnt: uplink.f_cnt,
        f_port: uplink.f_port.into(),
        confirmed: uplink.confirmed,
        data: uplink.data,
        object: None,
        rx_info: uplink.rx_info,
        tx_info: Some(uplink.tx_info),
        relay_rx_info: None,
        join_server_context: None,
        region_config_id: uplink.region_config_id,
    }
}

/// The `join` event: sent with the device's first uplink after an OTAA join
/// (as ChirpStack does), with the DevAddr it was given.
///
/// ```
/// use std::time::SystemTime;
/// use lorawan::DevAddr;
/// use ns_core::integration::{join_event, DeviceInfo};
/// use uuid::Uuid;
///
/// let join = join_event(DeviceInfo::default(), Uuid::nil(), SystemTime::UNIX_EPOCH,
///                       DevAddr::from_u32(0x2601_0203), "eu868");
/// assert_eq!(join.dev_addr, "26010203");
/// assert_eq!(join.region_config_id, "eu868");
/// ```
#[must_use]
pub fn join_event(
    device_info: DeviceInfo,
    deduplication_id: Uuid,
    time: SystemTime,
    dev_addr: DevAddr,
    region_config_id: &str,
) -> JoinEvent {
    JoinEvent {
        deduplication_id: deduplication_id.to_string(),
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        dev_addr: dev_addr.to_string(),
        relay_rx_info: None,
        join_server_context: None,
        region_config_id: region_config_id.to_owned(),
    }
}

/// The `ack` event of a confirmed downlink: `acknowledged` true when the
/// device's uplink carried the ACK bit, false when waiting timed out.
///
/// ```
/// use std::time::SystemTime;
/// use ns_core::integration::{ack_event, DeviceInfo};
/// use uuid::Uuid;
///
/// let ack = ack_event(DeviceInfo::default(), Uuid::nil(), SystemTime::UNIX_EPOCH,
///                     Uuid::from_u128(1), true, 12);
/// assert_eq!(ack.queue_item_id, "00000000-0000-0000-0000-000000000001");
/// assert!(ack.acknowledged);
/// assert_eq!(ack.f_cnt_down, 12);
/// ```
#[must_use]
pub fn ack_event(
    device_info: DeviceInfo,
    deduplication_id: Uuid,
    time: SystemTime,
    queue_item_id: Uuid,
    acknowledged: bool,
    f_cnt_down: u32,
) -> AckEvent {
    AckEvent {
        deduplication_id: deduplication_id.to_string(),
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        queue_item_id: queue_item_id.to_string(),
        acknowledged,
        f_cnt_down,
    }
}

/// The `txack` event: the gateway accepted the downlink `downlink_id`.
/// `queue_item_id` is `None` for a downlink that carried no queue item
/// (MAC commands only), which ChirpStack sends with an empty ID.
///
/// ```
/// use std::time::SystemTime;
/// use lorawan::Eui64;
/// use ns_core::integration::{tx_ack_event, DeviceInfo};
/// use packet_forwarder::gw;
///
/// let tx_ack = tx_ack_event(DeviceInfo::default(), SystemTime::UNIX_EPOCH, 42, None, 3,
///                           Eui64::from_u64(0x0101010101010101),
///                           gw::DownlinkTxInfo { frequency: 869_525_000, ..Default::default() });
/// assert_eq!(tx_ack.gateway_id, "0101010101010101");
/// assert_eq!(tx_ack.queue_item_id, "");
/// ```
#[must_use]
pub fn tx_ack_event(
    device_info: DeviceInfo,
    time: SystemTime,
    downlink_id: u32,
    queue_item_id: Option<Uuid>,
    f_cnt_down: u32,
    gateway_id: Eui64,
    tx_info: gw::DownlinkTxInfo,
) -> TxAckEvent {
    TxAckEvent {
        downlink_id,
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        queue_item_id: queue_item_id.map(|id| id.to_string()).unwrap_or_default(),
        f_cnt_down,
        gateway_id: gateway_id.to_string(),
        tx_info: Some(tx_info),
    }
}

/// A `log` event.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::SystemTime;
/// use ns_core::integration::{log_event, DeviceInfo, LogCode, LogLevel};
///
/// let context = BTreeMap::from([("deduplication_id".to_owned(), "…".to_owned())]);
/// let log = log_event(DeviceInfo::default(), SystemTime::UNIX_EPOCH, LogLevel::Warning,
///                     LogCode::UplinkFCntRetransmission, "Uplink was flagged as re-transmission / frame-counter did not increment", context);
/// assert_eq!(log.level(), LogLevel::Warning);
/// assert_eq!(log.code(), LogCode::UplinkFCntRetransmission);
/// ```
#[must_use]
pub fn log_event(
    device_info: DeviceInfo,
    time: SystemTime,
    level: LogLevel,
    code: LogCode,
    description: impl Into<String>,
    context: BTreeMap<String, String>,
) -> LogEvent {
    LogEvent {
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        level: level.into(),
        code: code.into(),
        description: description.into(),
        context,
    }
}

/// The `status` event of a DevStatusAns: `margin` is its SNR margin (dB,
/// −32..31) and `battery` its raw battery byte, which ChirpStack turns into
/// the three battery fields: 0 is external power, 255 unknown, and 1–254 a
/// level of `battery / 254 × 100` percent.
///
/// ```
/// use std::time::SystemTime;
/// use ns_core::integration::{status_event, DeviceInfo};
/// use uuid::Uuid;
///
/// let status = status_event(DeviceInfo::default(), Uuid::nil(), SystemTime::UNIX_EPOCH, 7, 127);
/// assert_eq!(status.margin, 7);
/// assert_eq!(status.battery_level, 50.0);
/// assert!(!status.external_power_source && !status.battery_level_unavailable);
///
/// let status = status_event(DeviceInfo::default(), Uuid::nil(), SystemTime::UNIX_EPOCH, 7, 0);
/// assert!(status.external_power_source);
/// assert_eq!(status.battery_level, 0.0);
/// ```
#[must_use]
pub fn status_event(
    device_info: DeviceInfo,
    deduplication_id: Uuid,
    time: SystemTime,
    margin: i8,
    battery: u8,
) -> StatusEvent {
    StatusEvent {
        deduplication_id: deduplication_id.to_string(),
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        margin: margin.into(),
        external_power_source: battery == 0,
        battery_level_unavailable: battery == 255,
        battery_level: match battery {
            0 | 255 => 0.0,
            level => f32::from(level) / 254.0 * 100.0,
        },
    }
}

/// A `location` event. ChirpStack itself no longer emits these (their
/// producer, the LoRa Cloud integration, was removed in v4.14); the message
/// stays for integrations that resolve positions.
///
/// ```
/// use std::time::SystemTime;
/// use ns_core::integration::{location_event, DeviceInfo};
/// use packet_forwarder::gw::common;
/// use uuid::Uuid;
///
/// let location = common::Location { latitude: 52.37, longitude: 4.90, ..Default::default() };
/// let event = location_event(DeviceInfo::default(), Uuid::nil(), SystemTime::UNIX_EPOCH, location);
/// assert_eq!(event.location.unwrap().latitude, 52.37);
/// ```
#[must_use]
pub fn location_event(
    device_info: DeviceInfo,
    deduplication_id: Uuid,
    time: SystemTime,
    location: common::Location,
) -> LocationEvent {
    LocationEvent {
        deduplication_id: deduplication_id.to_string(),
        time: Some(timestamp(time)),
        device_info: Some(device_info),
        location: Some(location),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::region::{Region, Revision};

    fn records() -> (Tenant, Application, DeviceProfile, Device) {
        let tenant = Tenant::new("acme");
        let application = Application::new(tenant.id, "meters");
        let profile = DeviceProfile::new(
            tenant.id,
            "eu868",
            Region::Eu868,
            model::MacVersion::V1_0_3,
            Revision::Rp002_1_0_3,
        );
        let device = Device::new(
            Eui64::from_u64(0x0102_0304_0506_0708),
            application.id,
            profile.id,
            "meter-1",
        );
        (tenant, application, profile, device)
    }

    #[test]
    fn device_info_names_every_owner_by_id_and_name() {
        let (tenant, application, profile, mut device) = records();
        device.enabled_class = model::DeviceClass::C;
        let info = device_info(&tenant, &application, &profile, &device);
        assert_eq!(
            info,
            DeviceInfo {
                tenant_id: tenant.id.to_string(),
                tenant_name: "acme".into(),
                application_id: application.id.to_string(),
                application_name: "meters".into(),
                device_profile_id: profile.id.to_string(),
                device_profile_name: "eu868".into(),
                device_name: "meter-1".into(),
                dev_eui: "0102030405060708".into(),
                device_class_enabled: common::DeviceClass::ClassC.into(),
                tags: BTreeMap::new(),
            }
        );
    }

    #[test]
    fn uuids_are_hyphenated_lowercase_as_chirpstack_writes_them() {
        let id = Uuid::from_u128(0xABCD_EF01_2345_6789_ABCD_EF01_2345_6789);
        let join = join_event(
            DeviceInfo::default(),
            id,
            SystemTime::UNIX_EPOCH,
            DevAddr::from_u32(0xABCD_EF01),
            "",
        );
        assert_eq!(
            join.deduplication_id,
            "abcdef01-2345-6789-abcd-ef0123456789"
        );
        assert_eq!(join.dev_addr, "abcdef01");
    }

    #[test]
    fn status_battery_byte_maps_to_three_fields() {
        let status = |battery| {
            let s = status_event(
                DeviceInfo::default(),
                Uuid::nil(),
                SystemTime::UNIX_EPOCH,
                -32,
                battery,
            );
            (
                s.external_power_source,
                s.battery_level_unavailable,
                s.battery_level,
            )
        };
        assert_eq!(status(0), (true, false, 0.0));
        assert_eq!(status(255), (false, true, 0.0));
        assert_eq!(status(254), (false, false, 100.0));
        assert_eq!(status(1), (false, false, 1.0 / 254.0 * 100.0));
    }

    #[test]
    fn tx_ack_without_queue_item_has_empty_id() {
        let tx_ack = tx_ack_event(
            DeviceInfo::default(),
            SystemTime::UNIX_EPOCH,
            1,
            None,
            0,
            Eui64::from_u64(1),
            gw::DownlinkTxInfo::default(),
        );
        assert!(tx_ack.queue_item_id.is_empty());
        assert_eq!(tx_ack.gateway_id, "0000000000000001");
    }
}
