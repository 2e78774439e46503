//! The network server's records: what storage keeps and the sans-IO logic
//! reads and returns.
//!
//! Identifiers are the `lorawan` types (`Eui64`, `DevAddr`, keys); objects
//! owned by a tenant have UUIDs as in ChirpStack. A [`DeviceSession`] is the
//! device's LoRaWAN state once activated (OTAA or ABP): its keys, counters,
//! radio settings, ADR and MAC-command bookkeeping. Storage keeps its
//! frame counter `f_cnt_up` in a column of its own as well, so an uplink is
//! processed once even with several server instances (a conditional update
//! on that column).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use lorawan::crypto::SessionKeys11;
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, SNwkSIntKey};
use lorawan::region::{Region, RegionParams, Revision};
use lorawan::{DevAddr, Eui64, NetId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Free-form key/value labels (tags, variables, metadata), sorted by key.
pub type Tags = BTreeMap<String, String>;

/// Now, to the microsecond: the precision both storage backends keep, so a
/// record reads back equal to what was written.
pub fn now_micros() -> SystemTime {
    let now = SystemTime::now();
    match now.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_micros(d.as_micros() as u64),
        Err(_) => now,
    }
}

/// When a record was created and last changed. Storage writes both as
/// given; the API sets `updated_at` on every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamps {
    /// Creation time.
    pub created_at: SystemTime,
    /// Time of the last change.
    pub updated_at: SystemTime,
}

impl Stamps {
    /// Both times now (to the microsecond).
    pub fn now() -> Self {
        let now = now_micros();
        Self {
            created_at: now,
            updated_at: now,
        }
    }

    /// Marks a change now.
    pub fn touch(&mut self) {
        self.updated_at = now_micros();
    }
}

impl Default for Stamps {
    fn default() -> Self {
        Self::now()
    }
}

/// The LoRaWAN MAC (link-layer) version a device implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MacVersion {
    /// LoRaWAN 1.0.0.
    #[serde(rename = "1.0.0")]
    V1_0_0,
    /// LoRaWAN 1.0.1.
    #[serde(rename = "1.0.1")]
    V1_0_1,
    /// LoRaWAN 1.0.2.
    #[serde(rename = "1.0.2")]
    V1_0_2,
    /// LoRaWAN 1.0.3.
    #[serde(rename = "1.0.3")]
    V1_0_3,
    /// LoRaWAN 1.0.4.
    #[serde(rename = "1.0.4")]
    V1_0_4,
    /// LoRaWAN 1.1.0.
    #[serde(rename = "1.1.0")]
    V1_1_0,
}

impl MacVersion {
    /// LoRaWAN 1.1 (separate network keys, OptNeg, FOpts encryption).
    pub const fn is_1_1(self) -> bool {
        matches!(self, Self::V1_1_0)
    }

    /// Whether DevNonces must increase (1.0.4 and 1.1), rather than only
    /// never repeat (1.0.0–1.0.3).
    pub const fn dev_nonce_increases(self) -> bool {
        matches!(self, Self::V1_0_4 | Self::V1_1_0)
    }

    /// The version's name, `"1.0.3"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1_0_0 => "1.0.0",
            Self::V1_0_1 => "1.0.1",
            Self::V1_0_2 => "1.0.2",
            Self::V1_0_3 => "1.0.3",
            Self::V1_0_4 => "1.0.4",
            Self::V1_1_0 => "1.1.0",
        }
    }
}

/// The device classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceClass {
    /// Class A: downlinks only after uplinks.
    #[default]
    A,
    /// Class B: ping slots synchronised by beacons.
    B,
    /// Class C: continuously listening.
    C,
}

/// A tenant: the owner of applications, device profiles and gateways.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tenant {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// DevAddr prefixes (`"26000000/7"`) for its devices' joins; empty: the
    /// network's.
    pub dev_addr_prefixes: Vec<String>,
    /// Whether its gateways' uplinks are only for its own devices.
    pub private_gateways_up: bool,
    /// Whether its gateways send only its own devices' downlinks.
    pub private_gateways_down: bool,
    /// A free-form description.
    pub description: String,
    /// Whether it may register gateways.
    pub can_have_gateways: bool,
    /// At most this many gateways (0: no limit).
    pub max_gateway_count: u32,
    /// At most this many devices (0: no limit).
    pub max_device_count: u32,
    /// Its tags.
    pub tags: Tags,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl Tenant {
    /// A tenant with a new id and default settings.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: name.into(),
            dev_addr_prefixes: Vec::new(),
            private_gateways_up: false,
            private_gateways_down: false,
            description: String::new(),
            can_have_gateways: true,
            max_gateway_count: 0,
            max_device_count: 0,
            tags: Tags::new(),
            stamps: Stamps::now(),
        }
    }
}

/// An application: a group of devices whose events go to the same
/// integrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Application {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its name.
    pub name: String,
    /// A free-form description.
    pub description: String,
    /// Its tags.
    pub tags: Tags,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl Application {
    /// An application with a new id.
    pub fn new(tenant_id: Uuid, name: impl Into<String>) -> Self {
        Self {
            id: Uuid::new_v4(),
            tenant_id,
            name: name.into(),
            description: String::new(),
            tags: Tags::new(),
            stamps: Stamps::now(),
        }
    }
}

/// What devices of one kind share: LoRaWAN version, region, class support,
/// ADR algorithm, ABP radio settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceProfile {
    /// Its id.
    pub id: Uuid,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its name.
    pub name: String,
    /// The region.
    pub region: Region,
    /// The region configuration its devices use (`eu868`, `us915_0`: the
    /// gateways' MQTT topic prefix); empty: any configuration of `region`.
    pub region_config_id: String,
    /// The MAC version.
    pub mac_version: MacVersion,
    /// The regional parameters revision.
    pub reg_params_revision: Revision,
    /// Whether devices join (OTAA) rather than being activated (ABP).
    pub supports_otaa: bool,
    /// Class B support.
    pub supports_class_b: bool,
    /// Class C support.
    pub supports_class_c: bool,
    /// The ADR algorithm (`"default"`).
    pub adr_algorithm_id: String,
    /// The expected uplink interval.
    pub uplink_interval: Duration,
    /// DevStatusReq per day (0: never).
    pub device_status_req_interval: u32,
    /// Flush the queue when a device (re)joins.
    pub flush_queue_on_activate: bool,
    /// ABP: RX1 delay in seconds.
    pub abp_rx1_delay: u8,
    /// ABP: RX1 data-rate offset.
    pub abp_rx1_dr_offset: u8,
    /// ABP: RX2 data rate.
    pub abp_rx2_dr: u8,
    /// ABP: RX2 frequency, Hz.
    pub abp_rx2_frequency: u32,
    /// How long a class C confirmed downlink waits for its ACK.
    pub class_c_timeout: Duration,
    /// A free-form description.
    pub description: String,
    /// Its tags (copied into its devices' events).
    pub tags: Tags,
    /// Settings the API accepts that the server does not act on yet (payload
    /// codec, class B, relay, ...), kept as the client gave them, as a JSON
    /// object in the API's JSON form.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl DeviceProfile {
    /// A profile with a new id: OTAA, class A, the default ADR algorithm,
    /// the region's RX2 defaults for ABP.
    pub fn new(
        tenant_id: Uuid,
        name: impl Into<String>,
        region: Region,
        mac_version: MacVersion,
        reg_params_revision: Revision,
    ) -> Self {
        let params = lorawan::region::params(region, reg_params_revision);
        Self {
            id: Uuid::new_v4(),
            tenant_id,
            name: name.into(),
            region,
            region_config_id: String::new(),
            mac_version,
            reg_params_revision,
            supports_otaa: true,
            supports_class_b: false,
            supports_class_c: false,
            adr_algorithm_id: "default".into(),
            uplink_interval: Duration::from_secs(3600),
            device_status_req_interval: 1,
            flush_queue_on_activate: true,
            abp_rx1_delay: 1,
            abp_rx1_dr_offset: 0,
            abp_rx2_dr: params.rx2_dr,
            abp_rx2_frequency: params.rx2_frequency,
            class_c_timeout: Duration::from_secs(5),
            description: String::new(),
            tags: Tags::new(),
            extra: serde_json::Map::new(),
            stamps: Stamps::now(),
        }
    }

    /// The class a device of this profile runs once activated (join or
    /// ABP), ChirpStack's rule: C for a LoRaWAN 1.0 device of a profile
    /// with `supports_class_c`; otherwise A (a 1.1 device switches with
    /// DeviceModeInd).
    pub fn class_at_activation(&self) -> DeviceClass {
        if self.supports_class_c && !self.mac_version.is_1_1() {
            DeviceClass::C
        } else {
            DeviceClass::A
        }
    }
}

/// A device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// Its EUI.
    pub dev_eui: Eui64,
    /// Its application.
    pub application_id: Uuid,
    /// Its profile.
    pub device_profile_id: Uuid,
    /// Its name.
    pub name: String,
    /// The JoinEUI it joins with (OTAA).
    pub join_eui: Eui64,
    /// Accept any frame counter (for devices that lose it on reset; weakens
    /// replay protection).
    pub skip_fcnt_check: bool,
    /// Disabled devices' frames are dropped.
    pub is_disabled: bool,
    /// The class it runs now.
    pub enabled_class: DeviceClass,
    /// When its last uplink was received.
    pub last_seen_at: Option<SystemTime>,
    /// Its session, once activated.
    pub session: Option<DeviceSession>,
    /// A free-form description.
    pub description: String,
    /// Its tags (copied into its events).
    pub tags: Tags,
    /// Its variables (for integrations and codecs).
    pub variables: Tags,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl Device {
    /// A new, not yet activated device.
    pub fn new(
        dev_eui: Eui64,
        application_id: Uuid,
        device_profile_id: Uuid,
        name: impl Into<String>,
    ) -> Self {
        Self {
            dev_eui,
            application_id,
            device_profile_id,
            name: name.into(),
            join_eui: Eui64::from_u64(0),
            skip_fcnt_check: false,
            is_disabled: false,
            enabled_class: DeviceClass::A,
            last_seen_at: None,
            session: None,
            description: String::new(),
            tags: Tags::new(),
            variables: Tags::new(),
            stamps: Stamps::now(),
        }
    }
}

/// The root keys of an OTAA device and its join counters (the built-in
/// join server's data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceKeys {
    /// The device.
    pub dev_eui: Eui64,
    /// NwkKey; for LoRaWAN 1.0.x devices, the AppKey of the specification.
    pub nwk_key: NwkKey,
    /// AppKey of LoRaWAN 1.1 devices (unused by 1.0.x).
    pub app_key: AppKey,
    /// The last JoinNonce sent (24 bits), incremented per accepted join.
    pub join_nonce: u32,
}

impl DeviceKeys {
    /// The keys of a device that has not joined yet (JoinNonce 0).
    pub fn new(dev_eui: Eui64, nwk_key: NwkKey, app_key: AppKey) -> Self {
        Self {
            dev_eui,
            nwk_key,
            app_key,
            join_nonce: 0,
        }
    }
}

/// A session's extra uplink channel (NewChannelReq or CFList).
///
/// Stored as `[frequency, min_dr, max_dr]` (see [`DeviceSession`]); the
/// object form `{"frequency": …, "min_dr": …, "max_dr": …}` is read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ExtraChannel {
    /// Frequency, Hz.
    pub frequency: u32,
    /// Lowest data rate.
    pub min_dr: u8,
    /// Highest data rate.
    pub max_dr: u8,
}

/// One uplink remembered for ADR.
///
/// Stored as `[f_cnt, max_snr, max_rssi, tx_power_index, gateway_count]`
/// (see [`DeviceSession`]); the object form with those keys is read too.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct AdrHistoryEntry {
    /// The uplink's frame counter.
    pub f_cnt: u32,
    /// The best SNR over the gateways that heard it, dB.
    pub max_snr: f32,
    /// The best RSSI, dBm.
    pub max_rssi: i32,
    /// The TX power index the device used.
    pub tx_power_index: u8,
    /// How many gateways heard it.
    pub gateway_count: u32,
}

// A session is written with every uplink, and its ADR history (20
// entries) was three fifths of its stored JSON as objects: as arrays, a
// session takes half the bytes to write, to parse (SQLite reads the
// downlink counters out of the stored one) and to keep in the WAL. Serde's
// derived `Deserialize` of a struct takes either form.
impl Serialize for ExtraChannel {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.frequency, self.min_dr, self.max_dr).serialize(serializer)
    }
}

impl Serialize for AdrHistoryEntry {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (
            self.f_cnt,
            self.max_snr,
            self.max_rssi,
            self.tx_power_index,
            self.gateway_count,
        )
            .serialize(serializer)
    }
}

/// A MAC command the server sent and awaits the answer of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMacCommand {
    /// The command identifier.
    pub cid: u8,
    /// The request as sent (CID and payload), to interpret the answer.
    pub request: Vec<u8>,
    /// How many times it was sent without an answer.
    pub attempts: u8,
}

/// A device's LoRaWAN session: set up by a join or by ABP activation,
/// updated by every uplink and downlink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceSession {
    /// The device address.
    pub dev_addr: DevAddr,
    /// The MAC version the session runs (1.1 only when both sides agreed).
    pub mac_version: MacVersion,
    /// FNwkSIntKey (1.0.x: the NwkSKey).
    pub f_nwk_s_int_key: FNwkSIntKey,
    /// SNwkSIntKey (1.0.x: the NwkSKey).
    pub s_nwk_s_int_key: SNwkSIntKey,
    /// NwkSEncKey (1.0.x: the NwkSKey).
    pub nwk_s_enc_key: NwkSEncKey,
    /// AppSKey.
    pub app_s_key: AppSKey,
    /// The next uplink frame counter expected (the last received + 1).
    pub f_cnt_up: u32,
    /// The next network downlink counter (1.1: FPort 0 and MAC-only; 1.0:
    /// every downlink).
    pub n_f_cnt_down: u32,
    /// The next application downlink counter (1.1 only).
    pub a_f_cnt_down: u32,
    /// The FCnt of the last confirmed downlink, for the 1.1 uplink MIC of
    /// its acknowledgement.
    pub conf_f_cnt: u32,
    /// RX1 delay, seconds (0 counts as 1).
    pub rx1_delay: u8,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_dr: u8,
    /// RX2 frequency, Hz.
    pub rx2_frequency: u32,
    /// The enabled uplink channels, as indices of the region's plan.
    pub enabled_uplink_channel_indices: Vec<u8>,
    /// Channels added by CFList or NewChannelReq.
    pub extra_uplink_channels: Vec<ExtraChannel>,
    /// Whether the device has ADR on (its last uplink's FCtrl.ADR).
    pub adr: bool,
    /// The data rate the device transmits at (last uplink).
    pub dr: u8,
    /// The TX power index the server last set.
    pub tx_power_index: u8,
    /// Transmissions per uplink the server last set.
    pub nb_trans: u8,
    /// The highest TX power index the device acknowledged.
    pub max_supported_tx_power_index: u8,
    /// Recent uplinks, for ADR (at most 20).
    pub uplink_adr_history: Vec<AdrHistoryEntry>,
    /// MAC commands sent and not answered yet.
    pub mac_command_pending: Vec<PendingMacCommand>,
    /// Failed answers per CID; the server stops retrying at a limit.
    pub mac_command_error_count: BTreeMap<u8, u32>,
    /// When DevStatusReq was last sent.
    pub last_device_status_request: Option<SystemTime>,
    /// The region configuration the session belongs to.
    pub region_config_id: String,
    /// 400 ms uplink dwell time (AS923 TXParamSetupReq).
    pub uplink_dwell_time_400ms: bool,
    /// 400 ms downlink dwell time.
    pub downlink_dwell_time_400ms: bool,
    /// MaxEIRP index (TXParamSetupReq).
    pub uplink_max_eirp_index: u8,
}

impl DeviceSession {
    /// A session as activation leaves it: `keys` (a LoRaWAN 1.0 session puts
    /// its one NwkSKey in the three network-key roles:
    /// `SessionKeys10::into`), counters at zero, nothing pending, no ADR
    /// history, and the region's defaults (`params`) for RX1 delay (1 s),
    /// RX1 offset (0), RX2, the uplink channels (the plan's: the default
    /// channels of a dynamic plan, the whole grid of a fixed one), dwell
    /// time and data rate (DR0). A join or an ABP activation then sets what
    /// it negotiated with struct update syntax.
    ///
    /// ```
    /// use lorawan::crypto::SessionKeys10;
    /// use lorawan::keys::{AppSKey, NwkSKey};
    /// use lorawan::region::{params, Region, Revision};
    /// use lorawan::DevAddr;
    /// use ns_core::model::{DeviceSession, MacVersion};
    ///
    /// let keys = SessionKeys10 {
    ///     nwk_s_key: NwkSKey::from_be_bytes([1; 16]),
    ///     app_s_key: AppSKey::from_be_bytes([2; 16]),
    /// };
    /// let eu = params(Region::Eu868, Revision::LATEST);
    /// let s = DeviceSession::new(DevAddr::from_u32(0x2601_1234), MacVersion::V1_0_3, keys.into(), "eu868", eu);
    /// assert_eq!((s.f_cnt_up, s.rx2_frequency), (0, 869_525_000));
    /// assert_eq!(s.enabled_uplink_channel_indices, [0, 1, 2]);
    /// ```
    pub fn new(
        dev_addr: DevAddr,
        mac_version: MacVersion,
        keys: SessionKeys11,
        region_config_id: impl Into<String>,
        params: &RegionParams,
    ) -> Self {
        Self {
            dev_addr,
            mac_version,
            f_nwk_s_int_key: keys.f_nwk_s_int_key,
            s_nwk_s_int_key: keys.s_nwk_s_int_key,
            nwk_s_enc_key: keys.nwk_s_enc_key,
            app_s_key: keys.app_s_key,
            f_cnt_up: 0,
            n_f_cnt_down: 0,
            a_f_cnt_down: 0,
            conf_f_cnt: 0,
            rx1_delay: 1,
            rx1_dr_offset: 0,
            rx2_dr: params.rx2_dr,
            rx2_frequency: params.rx2_frequency,
            enabled_uplink_channel_indices: (0..params.uplink_channel_count())
                .filter_map(|i| u8::try_from(i).ok())
                .collect(),
            extra_uplink_channels: Vec::new(),
            adr: false,
            dr: 0,
            tx_power_index: 0,
            nb_trans: 1,
            max_supported_tx_power_index: 0,
            uplink_adr_history: Vec::new(),
            mac_command_pending: Vec::new(),
            mac_command_error_count: BTreeMap::new(),
            last_device_status_request: None,
            region_config_id: region_config_id.into(),
            uplink_dwell_time_400ms: params.default_dwell_time,
            downlink_dwell_time_400ms: false,
            uplink_max_eirp_index: 0,
        }
    }
}

/// The gateways that heard a device's last uplink, kept so that a
/// downlink can be sent without an uplink to answer (class C): ChirpStack's
/// "device gateway rx-info set".
///
/// Storage keeps it beside the device's session and writes it with the
/// uplink's session write, so every server instance sharing the database
/// sees it.
///
/// ```
/// use ns_core::model::DeviceGatewayRxInfo;
/// use packet_forwarder::gw;
///
/// let heard = [gw::UplinkRxInfo {
///     gateway_id: "0101010101010101".into(),
///     rssi: -70,
///     snr: 8.5,
///     board: 1,
///     context: vec![1, 2, 3, 4],
///     ..Default::default()
/// }];
/// let set = DeviceGatewayRxInfo::from_rx_infos("eu868", 5, &heard);
/// let json = serde_json::to_string(&set)?;
/// let back: DeviceGatewayRxInfo = serde_json::from_str(&json)?;
/// assert_eq!(back, set);
/// let rx = &back.to_rx_infos()[0];
/// assert_eq!((rx.gateway_id.as_str(), rx.board, rx.context.as_slice()),
///            ("0101010101010101", 1, &[1, 2, 3, 4][..]));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceGatewayRxInfo {
    /// The region configuration the uplink came in under: its gateway
    /// backend carries the downlink.
    pub region_config_id: String,
    /// The uplink's data rate (the required SNR of the gateways' link
    /// margins).
    pub dr: u8,
    /// One entry per reception.
    pub items: Vec<DeviceGatewayRxInfoItem>,
}

/// One gateway's reception of a device's last uplink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceGatewayRxInfoItem {
    /// The gateway, as its `rx_info` names it (hex EUI).
    pub gateway_id: String,
    /// RSSI, dBm.
    pub rssi: i32,
    /// SNR, dB.
    pub snr: f32,
    /// The board that received it.
    pub board: u32,
    /// The antenna that received it.
    pub antenna: u32,
    /// The gateway's opaque context of the reception (hex in JSON).
    #[serde(with = "hex_bytes")]
    pub context: Vec<u8>,
}

impl DeviceGatewayRxInfo {
    /// The set of an uplink's receptions.
    pub fn from_rx_infos(
        region_config_id: impl Into<String>,
        dr: u8,
        rx_infos: &[packet_forwarder::gw::UplinkRxInfo],
    ) -> Self {
        Self {
            region_config_id: region_config_id.into(),
            dr,
            items: rx_infos
                .iter()
                .map(|rx| DeviceGatewayRxInfoItem {
                    gateway_id: rx.gateway_id.clone(),
                    rssi: rx.rssi,
                    snr: rx.snr,
                    board: rx.board,
                    antenna: rx.antenna,
                    context: rx.context.clone(),
                })
                .collect(),
        }
    }

    /// The receptions as `gw` rx-infos, for
    /// [`select_downlink_gateway`](crate::downlink::select_downlink_gateway).
    pub fn to_rx_infos(&self) -> Vec<packet_forwarder::gw::UplinkRxInfo> {
        self.items
            .iter()
            .map(|i| packet_forwarder::gw::UplinkRxInfo {
                gateway_id: i.gateway_id.clone(),
                rssi: i.rssi,
                snr: i.snr,
                board: i.board,
                antenna: i.antenna,
                context: i.context.clone(),
                ..Default::default()
            })
            .collect()
    }
}

/// Bytes as a hex string in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// A gateway registered with the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Gateway {
    /// Its EUI.
    pub gateway_id: Eui64,
    /// Its tenant.
    pub tenant_id: Uuid,
    /// Its name.
    pub name: String,
    /// When it was last heard from (uplink or stats).
    pub last_seen_at: Option<SystemTime>,
    /// Latitude, degrees.
    pub latitude: f64,
    /// Longitude, degrees.
    pub longitude: f64,
    /// Altitude, metres.
    pub altitude: f32,
    /// A free-form description.
    pub description: String,
    /// Its tags.
    pub tags: Tags,
    /// Metadata the gateway reports about itself.
    pub metadata: Tags,
    /// The interval at which it sends stats.
    pub stats_interval: Duration,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl Gateway {
    /// A gateway of `tenant_id`, never seen.
    pub fn new(gateway_id: Eui64, tenant_id: Uuid, name: impl Into<String>) -> Self {
        Self {
            gateway_id,
            tenant_id,
            name: name.into(),
            last_seen_at: None,
            latitude: 0.0,
            longitude: 0.0,
            altitude: 0.0,
            description: String::new(),
            tags: Tags::new(),
            metadata: Tags::new(),
            stats_interval: Duration::from_secs(30),
            stamps: Stamps::now(),
        }
    }
}

/// A downlink waiting in a device's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueItem {
    /// Its id.
    pub id: Uuid,
    /// The device.
    pub dev_eui: Eui64,
    /// FPort (1–223).
    pub f_port: u8,
    /// Confirmed downlink.
    pub confirmed: bool,
    /// The payload (plain text; encrypted by the server).
    pub data: Vec<u8>,
    /// Sent and waiting for the ACK (confirmed) or the gateway's TX ack.
    pub is_pending: bool,
    /// The FCntDown it was sent with, once sent.
    pub f_cnt_down: Option<u32>,
    /// When a pending confirmed item times out.
    pub timeout_after: Option<SystemTime>,
    /// When it expires unsent.
    pub expires_at: Option<SystemTime>,
    /// When it was enqueued (the queue is in this order).
    pub created_at: SystemTime,
}

impl QueueItem {
    /// An item for `dev_eui` enqueued now.
    pub fn new(dev_eui: Eui64, f_port: u8, confirmed: bool, data: Vec<u8>) -> Self {
        Self {
            id: Uuid::new_v4(),
            dev_eui,
            f_port,
            confirmed,
            data,
            is_pending: false,
            f_cnt_down: None,
            timeout_after: None,
            expires_at: None,
            created_at: SystemTime::now(),
        }
    }
}

/// The network's identity: what joins and DevAddr allocation need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkIdentity {
    /// The NetID (Home_NetID in join-accepts).
    pub net_id: NetId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lorawan_1_0_devices_of_class_c_profiles_run_class_c_once_activated() {
        let mut p = DeviceProfile::new(
            Uuid::nil(),
            "p",
            Region::Eu868,
            MacVersion::V1_0_3,
            Revision::Rp002_1_0_3,
        );
        assert_eq!(p.class_at_activation(), DeviceClass::A);
        p.supports_class_c = true;
        assert_eq!(p.class_at_activation(), DeviceClass::C);
        // 1.1 devices announce it with DeviceModeInd.
        p.mac_version = MacVersion::V1_1_0;
        assert_eq!(p.class_at_activation(), DeviceClass::A);
    }

    #[test]
    fn sessions_round_trip_through_json() {
        let session = DeviceSession {
            dev_addr: DevAddr::from_u32(0x2601_1234),
            mac_version: MacVersion::V1_0_3,
            f_nwk_s_int_key: FNwkSIntKey::from_be_bytes([1; 16]),
            s_nwk_s_int_key: SNwkSIntKey::from_be_bytes([1; 16]),
            nwk_s_enc_key: NwkSEncKey::from_be_bytes([1; 16]),
            app_s_key: AppSKey::from_be_bytes([2; 16]),
            f_cnt_up: 70_000,
            n_f_cnt_down: 3,
            a_f_cnt_down: 0,
            conf_f_cnt: 0,
            rx1_delay: 1,
            rx1_dr_offset: 0,
            rx2_dr: 0,
            rx2_frequency: 869_525_000,
            enabled_uplink_channel_indices: vec![0, 1, 2],
            extra_uplink_channels: vec![ExtraChannel {
                frequency: 867_100_000,
                min_dr: 0,
                max_dr: 5,
            }],
            adr: true,
            dr: 5,
            tx_power_index: 0,
            nb_trans: 1,
            max_supported_tx_power_index: 7,
            uplink_adr_history: vec![AdrHistoryEntry {
                f_cnt: 69_999,
                max_snr: -7.25,
                max_rssi: -118,
                tx_power_index: 2,
                gateway_count: 3,
            }],
            mac_command_pending: vec![],
            mac_command_error_count: BTreeMap::new(),
            last_device_status_request: None,
            region_config_id: "eu868".into(),
            uplink_dwell_time_400ms: false,
            downlink_dwell_time_400ms: false,
            uplink_max_eirp_index: 0,
        };
        let json = serde_json::to_string(&session).unwrap();
        assert!(json.contains("\"dev_addr\":\"26011234\""), "{json}");
        assert!(
            json.contains("\"extra_uplink_channels\":[[867100000,0,5]]")
                && json.contains("\"uplink_adr_history\":[[69999,-7.25,-118,2,3]]"),
            "{json}"
        );
        let back: DeviceSession = serde_json::from_str(&json).unwrap();
        assert_eq!(back, session);

        // Sessions stored before the array forms read the same.
        let objects = json
            .replace(
                "[[867100000,0,5]]",
                r#"[{"frequency":867100000,"min_dr":0,"max_dr":5}]"#,
            )
            .replace(
                "[[69999,-7.25,-118,2,3]]",
                r#"[{"f_cnt":69999,"max_snr":-7.25,"max_rssi":-118,"tx_power_index":2,"gateway_count":3}]"#,
            );
        assert_ne!(objects, json);
        let old: DeviceSession = serde_json::from_str(&objects).unwrap();
        assert_eq!(old, session);
    }

    #[test]
    fn mac_versions_order_and_rules() {
        assert!(MacVersion::V1_0_4 > MacVersion::V1_0_3);
        assert!(!MacVersion::V1_0_3.dev_nonce_increases());
        assert!(MacVersion::V1_0_4.dev_nonce_increases());
        assert!(MacVersion::V1_1_0.is_1_1());
        assert_eq!(
            serde_json::to_string(&MacVersion::V1_0_2).unwrap(),
            "\"1.0.2\""
        );
    }
}

/// A person who logs in to the management API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// The login, unique.
    pub email: String,
    /// A global administrator may do anything.
    pub is_admin: bool,
    /// An inactive user cannot log in, and its tokens stop working.
    pub is_active: bool,
    /// Whether the email address was verified (set by an operator).
    pub email_verified: bool,
    /// A free-form note.
    pub note: String,
    /// The password hash (PHC string); empty: no password login.
    pub password_hash: String,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl User {
    /// An active, non-admin user with a new id and no password.
    pub fn new(email: impl Into<String>) -> Self {
        Self {
            id: Uuid::new_v4(),
            email: email.into(),
            is_admin: false,
            is_active: true,
            email_verified: false,
            note: String::new(),
            password_hash: String::new(),
            stamps: Stamps::now(),
        }
    }
}

/// A user's membership of a tenant, with its roles there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TenantUser {
    /// The tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// May manage the tenant, its users and everything in it.
    pub is_admin: bool,
    /// May manage applications, device profiles and devices.
    pub is_device_admin: bool,
    /// May manage gateways.
    pub is_gateway_admin: bool,
    /// Creation and change times.
    pub stamps: Stamps,
}

impl TenantUser {
    /// A plain member (read access) of `tenant_id`.
    pub fn new(tenant_id: Uuid, user_id: Uuid) -> Self {
        Self {
            tenant_id,
            user_id,
            is_admin: false,
            is_device_admin: false,
            is_gateway_admin: false,
            stamps: Stamps::now(),
        }
    }
}

/// An API key: the token itself is signed, not stored; deleting the key
/// revokes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiKey {
    /// Its id (the token's subject).
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// A global administrator key; otherwise scoped to `tenant_id`.
    pub is_admin: bool,
    /// The tenant of a tenant key.
    pub tenant_id: Option<Uuid>,
    /// A read-only key may only read.
    pub is_read_only: bool,
    /// Creation time.
    pub created_at: SystemTime,
}

impl ApiKey {
    /// A key with a new id: global admin when `tenant_id` is `None`.
    pub fn new(name: impl Into<String>, tenant_id: Option<Uuid>) -> Self {
        Self {
            id: Uuid::new_v4(),
            name: name.into(),
            is_admin: tenant_id.is_none(),
            tenant_id,
            is_read_only: false,
            created_at: now_micros(),
        }
    }
}
