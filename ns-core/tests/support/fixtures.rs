//! What the ns-core integration tests build alike: sessions, keys, device
//! profiles, regions and gateway metadata.
//!
//! Included by path (`#[path = "support/fixtures.rs"] mod fixtures;`), so
//! each test crate uses only part of it.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime};

use lorawan::DevAddr;
use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSEncKey, SNwkSIntKey};
use lorawan::region::{Network, Region, RegionConfig, Revision};
use ns_core::model::{DeviceProfile, DeviceSession, MacVersion};
use packet_forwarder::gw;
use serde_json::{Value, json};
use uuid::Uuid;

pub const GW1: &str = "0101010101010101";
pub const GW2: &str = "0202020202020202";
pub const GW3: &str = "0303030303030303";

/// 2023-11-14T22:13:20Z.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A device's DevAddr, LoRaWAN version and session keys.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    pub version: MacVersion,
    pub dev_addr: DevAddr,
    pub f_nwk_s_int_key: [u8; 16],
    pub s_nwk_s_int_key: [u8; 16],
    pub nwk_s_enc_key: [u8; 16],
    pub app_s_key: [u8; 16],
}

impl Keys {
    /// LoRaWAN 1.0.3: the NwkSKey (`[seed; 16]`) in every network role,
    /// the AppSKey `[seed + 1; 16]`.
    pub const fn v1_0(dev_addr: u32, seed: u8) -> Self {
        let nwk_s_key = [seed; 16];
        Self {
            version: MacVersion::V1_0_3,
            dev_addr: DevAddr::from_u32(dev_addr),
            f_nwk_s_int_key: nwk_s_key,
            s_nwk_s_int_key: nwk_s_key,
            nwk_s_enc_key: nwk_s_key,
            app_s_key: [seed.wrapping_add(1); 16],
        }
    }

    /// LoRaWAN 1.1: four keys, `[seed; 16]` to `[seed + 3; 16]`.
    pub const fn v1_1(dev_addr: u32, seed: u8) -> Self {
        Self {
            version: MacVersion::V1_1_0,
            dev_addr: DevAddr::from_u32(dev_addr),
            f_nwk_s_int_key: [seed; 16],
            s_nwk_s_int_key: [seed.wrapping_add(1); 16],
            nwk_s_enc_key: [seed.wrapping_add(2); 16],
            app_s_key: [seed.wrapping_add(3); 16],
        }
    }
}

/// A session as stored, from JSON (`DeviceSession` is `#[non_exhaustive]`
/// and has no constructor): an EU868 LoRaWAN 1.0.3 device at DR0 on the
/// three default channels, with the region's RX settings. `changes` are
/// merged over it, field by field.
pub fn session(changes: Value) -> DeviceSession {
    let mut base = json!({
        "dev_addr": "01020304",
        "mac_version": "1.0.3",
        "f_nwk_s_int_key": "01010101010101010101010101010101",
        "s_nwk_s_int_key": "01010101010101010101010101010101",
        "nwk_s_enc_key": "01010101010101010101010101010101",
        "app_s_key": "02020202020202020202020202020202",
        "f_cnt_up": 100,
        "n_f_cnt_down": 0,
        "a_f_cnt_down": 0,
        "conf_f_cnt": 0,
        "rx1_delay": 1,
        "rx1_dr_offset": 0,
        "rx2_dr": 0,
        "rx2_frequency": 869_525_000,
        "enabled_uplink_channel_indices": [0, 1, 2],
        "extra_uplink_channels": [],
        "adr": true,
        "dr": 0,
        "tx_power_index": 0,
        "nb_trans": 1,
        "max_supported_tx_power_index": 0,
        "uplink_adr_history": [],
        "mac_command_pending": [],
        "mac_command_error_count": {},
        "last_device_status_request": null,
        "region_config_id": "eu868",
        "uplink_dwell_time_400ms": false,
        "downlink_dwell_time_400ms": false,
        "uplink_max_eirp_index": 0,
    });
    merge(&mut base, changes);
    serde_json::from_value(base).expect("the test session matches model::DeviceSession")
}

/// [`session`] with the DevAddr, version and keys of `keys`, then
/// `changes`.
pub fn keyed_session(keys: &Keys, changes: Value) -> DeviceSession {
    let mut keyed = json!({
        "dev_addr": keys.dev_addr,
        "mac_version": keys.version,
        "f_nwk_s_int_key": FNwkSIntKey::from_be_bytes(keys.f_nwk_s_int_key),
        "s_nwk_s_int_key": SNwkSIntKey::from_be_bytes(keys.s_nwk_s_int_key),
        "nwk_s_enc_key": NwkSEncKey::from_be_bytes(keys.nwk_s_enc_key),
        "app_s_key": AppSKey::from_be_bytes(keys.app_s_key),
    });
    merge(&mut keyed, changes);
    session(keyed)
}

fn merge(base: &mut Value, changes: Value) {
    if let (Some(base), Value::Object(changes)) = (base.as_object_mut(), changes) {
        base.extend(changes);
    }
}

/// A device profile of no tenant, named `profile`.
pub fn profile(region: Region, version: MacVersion, revision: Revision) -> DeviceProfile {
    DeviceProfile::new(Uuid::nil(), "profile", region, version, revision)
}

/// The region's defaults under its lower-case common name (`eu868`), as
/// `configure` changes them.
pub fn network(region: Region, configure: impl FnOnce(&mut RegionConfig)) -> Network {
    let mut config = RegionConfig {
        id: region.common_name().to_lowercase(),
        common_name: Some(region),
        ..Default::default()
    };
    configure(&mut config);
    config.resolve().expect("test region configuration")
}

/// What a gateway reports of an uplink it heard.
pub fn rx(gateway_id: &str, snr: f32, rssi: i32) -> gw::UplinkRxInfo {
    gw::UplinkRxInfo {
        gateway_id: gateway_id.into(),
        snr,
        rssi,
        ..Default::default()
    }
}

/// A LoRa uplink's transmission parameters, coding rate 4/5.
pub fn lora_tx_info(frequency: u32, spreading_factor: u32, bandwidth: u32) -> gw::UplinkTxInfo {
    gw::UplinkTxInfo {
        frequency,
        modulation: Some(gw::Modulation {
            parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                bandwidth,
                spreading_factor,
                code_rate: gw::CodeRate::Cr45.into(),
                ..Default::default()
            })),
        }),
    }
}
