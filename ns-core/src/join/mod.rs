//! The built-in join server: OTAA join-requests checked and answered, with
//! no I/O.
//!
//! A join is handled in two steps around the storage transaction the driver
//! runs between them:
//!
//! 1. [`validate_join_request`] reads the frame and checks that the device
//!    may join: enabled, an OTAA profile, its DevEUI and JoinEUI, the MIC with
//!    its NwkKey. It returns a [`ValidJoinRequest`] naming the DevNonce and
//!    whether DevNonces must increase (LoRaWAN 1.0.4 and 1.1) or only never
//!    repeat (1.0.0–1.0.3). ([`parse_join_request`] gives the DevEUI to load
//!    the device by, before that.)
//! 2. The driver records the DevNonce (rejecting a replay), takes the next
//!    JoinNonce and allocates a DevAddr ([`allocate_dev_addr`]).
//! 3. [`accept`] builds the join-accept (DLSettings, RxDelay, CFList, MIC,
//!    encryption), derives the session keys, creates the [`DeviceSession`]
//!    and the gateway [`DownlinkFrame`](gw::DownlinkFrame) with an RX1 and an
//!    RX2 alternative.
//!
//! Nothing here panics, whatever the bytes; every refusal is a [`JoinError`]
//! that says whose fault it is ([`JoinError::fault`]).
//!
//! ```
//! use lorawan::keys::{AppKey, NwkKey};
//! use lorawan::phy::JoinRequestRepr;
//! use lorawan::region::{Region, RegionConfig, Revision};
//! use lorawan::{DevNonce, Eui64, NetId};
//! use ns_core::join::{self, AcceptParams, JoinOptions};
//! use ns_core::model::{Device, DeviceKeys, DeviceProfile, MacVersion};
//! use packet_forwarder::gw;
//! use rand::{SeedableRng, rngs::StdRng};
//! use uuid::Uuid;
//!
//! // What storage holds about the device.
//! let (dev_eui, join_eui) = (Eui64::from_u64(0x0102), Eui64::from_u64(0x0a0b));
//! let nwk_key = NwkKey::from_be_bytes([7; 16]);
//! let profile = DeviceProfile::new(
//!     Uuid::nil(), "sensors", Region::Eu868, MacVersion::V1_0_3, Revision::Rp002_1_0_4,
//! );
//! let mut device = Device::new(dev_eui, Uuid::nil(), profile.id, "sensor 1");
//! device.join_eui = join_eui;
//! let keys = DeviceKeys::new(dev_eui, nwk_key, AppKey::default());
//!
//! // The device's join-request, heard by one gateway at SF12.
//! let mut phy = [0u8; 23];
//! JoinRequestRepr { join_eui, dev_eui, dev_nonce: DevNonce(1) }.build(&nwk_key.keyed(), &mut phy)?;
//! let tx_info = gw::UplinkTxInfo {
//!     frequency: 868_100_000,
//!     modulation: Some(gw::Modulation {
//!         parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
//!             bandwidth: 125_000,
//!             spreading_factor: 12,
//!             ..Default::default()
//!         })),
//!     }),
//! };
//! let rx_info = gw::UplinkRxInfo {
//!     gateway_id: "0016c001ff10a235".into(),
//!     context: vec![0, 0, 1, 0],
//!     ..Default::default()
//! };
//!
//! let valid = join::validate_join_request(&phy, &device, &profile, &keys)?;
//! assert!(!valid.dev_nonce_must_increase());
//! // … the driver records valid.dev_nonce() and gets JoinNonce 1 …
//! let mut rng = StdRng::seed_from_u64(7);
//! let net_id = NetId::from_u32(0x000013).unwrap();
//! let dev_addr = join::allocate_dev_addr(net_id, &["26011000/20"], &[] as &[&str], &mut rng)?;
//! let network = RegionConfig {
//!     id: "eu868".into(),
//!     common_name: Some(Region::Eu868),
//!     ..Default::default()
//! }
//! .resolve()?;
//! let params = AcceptParams {
//!     join_nonce: 1,
//!     dev_addr,
//!     net_id,
//!     network: &network,
//!     tx_info: &tx_info,
//!     rx_info: &rx_info,
//!     options: JoinOptions::default(),
//! };
//! let answer = join::accept(&valid, &device, &profile, &keys, &params, &mut rng)?;
//!
//! assert_eq!(answer.session.dev_addr, dev_addr);
//! assert_eq!(answer.downlink.gateway_id, "0016c001ff10a235");
//! let [rx1, rx2] = &answer.downlink.items[..] else { unreachable!() };
//! assert_eq!(rx1.tx_info.as_ref().unwrap().frequency, 868_100_000);
//! assert_eq!(rx2.tx_info.as_ref().unwrap().frequency, 869_525_000);
//! assert_eq!(rx1.phy_payload.len(), 17); // no extra channels: no CFList
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod channels;
mod dev_addr;
mod error;

pub use dev_addr::{DevAddrError, DevAddrPrefix, allocate_dev_addr};
pub use error::{Fault, JoinError};

use std::time::Duration;

use lorawan::crypto::{self, SessionKeys11};
use lorawan::keys::NwkKey;
use lorawan::phy::{DlSettings, JoinAcceptRepr, JoinRequest, JoinRequestRepr, JoinType, RxDelay};
use lorawan::region::{Network, RegionParams, timing};
use lorawan::{DevAddr, DevNonce, Eui64, JoinNonce, NetId};
use packet_forwarder::gw;
use rand::Rng;

use crate::downlink_timing::{self, RxWindow, TxInfoError};
use crate::model::{Device, DeviceKeys, DeviceProfile, DeviceSession, MacVersion};
use channels::join_channels;

/// Reads a join-request: its JoinEUI, DevEUI and DevNonce, to load the device
/// by its DevEUI. The MIC is not checked.
///
/// # Errors
///
/// [`JoinError::MalformedFrame`] for anything but a 23-byte LoRaWAN R1
/// join-request.
pub fn parse_join_request(phy: &[u8]) -> Result<JoinRequestRepr, JoinError> {
    JoinRequest::new_checked(phy)
        .map(|jr| jr.repr())
        .map_err(JoinError::MalformedFrame)
}

/// A join-request whose frame, device and MIC have been checked. Only
/// [`validate_join_request`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidJoinRequest {
    dev_eui: Eui64,
    join_eui: Eui64,
    dev_nonce: DevNonce,
    mac_version: MacVersion,
}

impl ValidJoinRequest {
    /// The device.
    pub const fn dev_eui(&self) -> Eui64 {
        self.dev_eui
    }
    /// The JoinEUI the device used (the DevNonce's scope, and the device's
    /// JoinEUI to record).
    pub const fn join_eui(&self) -> Eui64 {
        self.join_eui
    }
    /// The DevNonce to record.
    pub const fn dev_nonce(&self) -> DevNonce {
        self.dev_nonce
    }
    /// Whether the DevNonce must be above the last one (LoRaWAN 1.0.4 and
    /// 1.1), rather than only never used before (1.0.0–1.0.3).
    pub const fn dev_nonce_must_increase(&self) -> bool {
        self.mac_version.dev_nonce_increases()
    }
    /// The MAC version of the device's profile.
    pub const fn mac_version(&self) -> MacVersion {
        self.mac_version
    }
}

/// Checks a join-request from `device`: the frame, that the device is enabled
/// and its profile supports OTAA, its DevEUI and JoinEUI, and the MIC with its
/// NwkKey (the AppKey of a LoRaWAN 1.0 device).
///
/// A device whose JoinEUI is zero accepts any JoinEUI, as ChirpStack, which
/// records the JoinEUI a device joins with rather than checking it.
///
/// # Errors
///
/// [`JoinError::MalformedFrame`], [`JoinError::DevEuiMismatch`],
/// [`JoinError::KeysMismatch`], [`JoinError::DeviceDisabled`],
/// [`JoinError::OtaaNotSupported`], [`JoinError::JoinEuiMismatch`],
/// [`JoinError::InvalidMic`].
pub fn validate_join_request(
    phy: &[u8],
    device: &Device,
    profile: &DeviceProfile,
    keys: &DeviceKeys,
) -> Result<ValidJoinRequest, JoinError> {
    let jr = JoinRequest::new_checked(phy).map_err(JoinError::MalformedFrame)?;
    let dev_eui = device.dev_eui;
    if jr.dev_eui() != dev_eui {
        return Err(JoinError::DevEuiMismatch {
            expected: dev_eui,
            received: jr.dev_eui(),
        });
    }
    if keys.dev_eui != dev_eui {
        return Err(JoinError::KeysMismatch {
            device: dev_eui,
            keys: keys.dev_eui,
        });
    }
    if device.is_disabled {
        return Err(JoinError::DeviceDisabled { dev_eui });
    }
    if !profile.supports_otaa {
        return Err(JoinError::OtaaNotSupported { dev_eui });
    }
    let join_eui = jr.join_eui();
    if device.join_eui != Eui64::from_u64(0) && device.join_eui != join_eui {
        return Err(JoinError::JoinEuiMismatch {
            dev_eui,
            expected: device.join_eui,
            received: join_eui,
        });
    }
    let computed = crypto::join_request_mic(&keys.nwk_key.keyed(), jr.mic_input());
    if computed != jr.mic() {
        return Err(JoinError::InvalidMic {
            dev_eui,
            received: jr.mic(),
            computed,
        });
    }
    Ok(ValidJoinRequest {
        dev_eui,
        join_eui,
        dev_nonce: jr.dev_nonce(),
        mac_version: profile.mac_version,
    })
}

/// Which receive windows the join-accept is offered in; ChirpStack's
/// `rx_window` setting (0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RxWindowSelection {
    /// RX1, then RX2 as the alternative if the gateway cannot make RX1 (0).
    #[default]
    Both,
    /// RX1 only (1).
    Rx1,
    /// RX2 only (2).
    Rx2,
}

/// Network settings of the join-accept downlink that are not in the region
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct JoinOptions {
    /// The receive windows to offer.
    pub rx_window: RxWindowSelection,
    /// The downlink EIRP in dBm; `None`: the region's default
    /// ([`default_downlink_tx_power`](downlink_timing::default_downlink_tx_power)),
    /// as ChirpStack's `downlink_tx_power = -1`.
    pub downlink_tx_power: Option<i32>,
}

impl JoinOptions {
    /// These options offering the join-accept in `rx_window`.
    pub const fn with_rx_window(mut self, rx_window: RxWindowSelection) -> Self {
        self.rx_window = rx_window;
        self
    }
    /// These options sending at `power` dBm EIRP.
    pub const fn with_downlink_tx_power(mut self, power: Option<i32>) -> Self {
        self.downlink_tx_power = power;
        self
    }
}

/// What [`accept`] needs beyond the device's records: the outcome of the
/// storage transaction and the DevAddr allocation, the region, and the
/// uplink's metadata.
#[derive(Debug, Clone, Copy)]
pub struct AcceptParams<'a> {
    /// The JoinNonce storage reserved for this join (24 bits).
    pub join_nonce: u32,
    /// The device's new address.
    pub dev_addr: DevAddr,
    /// The network's NetID (Home_NetID).
    pub net_id: NetId,
    /// The receiving region configuration.
    pub network: &'a Network,
    /// The join-request's transmission parameters (frequency, modulation).
    pub tx_info: &'a gw::UplinkTxInfo,
    /// The reception by the gateway chosen to answer: its ID, board, antenna
    /// and context.
    pub rx_info: &'a gw::UplinkRxInfo,
    /// Downlink settings.
    pub options: JoinOptions,
}

/// An accepted join: the new session to store and the join-accept to send.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JoinAccept {
    /// The device's new session: counters at zero, the keys of this join,
    /// the RX settings and channels of the join-accept.
    pub session: DeviceSession,
    /// The join-accept for the chosen gateway: RX1 then RX2 (as
    /// [`JoinOptions::rx_window`] says), each with the same PHYPayload.
    pub downlink: gw::DownlinkFrame,
}

/// Answers a validated join-request: the join-accept, the session keys, the
/// new [`DeviceSession`] and the gateway downlink.
///
/// - DLSettings: OptNeg for LoRaWAN 1.1 profiles, the region's RX1DROffset
///   and RX2 data rate; RxDelay: the region's RX1 delay.
/// - CFList: for dynamic plans the region's enabled extra channels that use
///   the default channels' data-rate range (five at most); for fixed plans
///   the enabled channels as a channel mask, for LoRaWAN 1.0.3 and later
///   (earlier devices do not read it).
/// - MIC: NwkKey (1.0), or JSIntKey over JoinReqType, JoinEUI and DevNonce
///   (1.1); encryption with NwkKey.
/// - Keys: 1.0 derives one NwkSKey for the three network key roles and the
///   AppSKey from NwkKey; 1.1 derives the network keys from NwkKey and the
///   AppSKey from AppKey.
/// - Downlink: RX1 JOIN_ACCEPT_DELAY1 (5 s) after the uplink, on the RX1
///   frequency and data rate of the uplink (RX1DROffset 0, as the device has
///   not applied DLSettings yet); RX2 JOIN_ACCEPT_DELAY2 (6 s) after it, on
///   the region's default RX2 frequency and data rate; a random
///   `downlink_id`.
///
/// # Errors
///
/// [`JoinError::DevEuiMismatch`] and [`JoinError::KeysMismatch`] if the
/// records are not those of `valid`, [`JoinError::RegionMismatch`],
/// [`JoinError::JoinNonceOverflow`], [`JoinError::InvalidSettings`] and
/// [`JoinError::Downlink`].
pub fn accept<R: Rng + ?Sized>(
    valid: &ValidJoinRequest,
    device: &Device,
    profile: &DeviceProfile,
    keys: &DeviceKeys,
    params: &AcceptParams<'_>,
    rng: &mut R,
) -> Result<JoinAccept, JoinError> {
    let dev_eui = valid.dev_eui;
    if device.dev_eui != dev_eui {
        return Err(JoinError::DevEuiMismatch {
            expected: device.dev_eui,
            received: dev_eui,
        });
    }
    if keys.dev_eui != dev_eui {
        return Err(JoinError::KeysMismatch {
            device: dev_eui,
            keys: keys.dev_eui,
        });
    }
    let network = params.network;
    let region = network.params;
    if profile.region != region.region {
        return Err(JoinError::RegionMismatch {
            dev_eui,
            profile: profile.region,
            network: region.region,
        });
    }
    let join_nonce =
        JoinNonce::from_u32(params.join_nonce).ok_or(JoinError::JoinNonceOverflow {
            dev_eui,
            join_nonce: params.join_nonce,
        })?;
    let invalid = |reason| JoinError::InvalidSettings {
        region_config_id: network.id.clone(),
        reason,
    };

    let mac_version = profile.mac_version;
    let opt_neg = mac_version.is_1_1();
    let dl_settings = DlSettings::new(opt_neg, network.rx1_dr_offset, network.rx2_dr)
        .ok_or_else(|| invalid("RX1DROffset above 7 or RX2 data rate above 15"))?;
    if !(1..=15).contains(&network.rx1_delay) {
        return Err(invalid("RX1 delay outside 1 to 15 s"));
    }
    let channels = join_channels(network, mac_version).map_err(invalid)?;

    // The join-accept.
    let repr = JoinAcceptRepr {
        join_nonce,
        home_net_id: params.net_id,
        dev_addr: params.dev_addr,
        dl_settings,
        rx_delay: RxDelay(network.rx1_delay),
        cf_list: channels.cf_list,
    };
    let nwk_key = keys.nwk_key.keyed();
    let mut buf = [0u8; 33];
    let built = if opt_neg {
        let js_int_key = crypto::derive_js_int_key(&nwk_key, dev_eui).keyed();
        repr.build_11(
            &js_int_key,
            JoinType::JoinRequest,
            valid.join_eui,
            valid.dev_nonce,
            &nwk_key,
            &mut buf,
        )
    } else {
        repr.build_10(&nwk_key, &mut buf)
    };
    // A 33-byte buffer holds every join-accept.
    let n = built.map_err(|_| invalid("join-accept does not fit"))?;
    let phy_payload = buf.get(..n).unwrap_or_default().to_vec();

    let session_keys = session_keys(keys, &nwk_key, valid, join_nonce, params.net_id, opt_neg);

    // The downlink: the device has not applied DLSettings yet, so RX1 uses
    // RX1DROffset 0 and RX2 the region's defaults.
    let uplink_dr = downlink_timing::uplink_data_rate(region, params.tx_info)?;
    let downlink_dwell_time = default_downlink_dwell_time(region);
    let mut windows = Vec::with_capacity(2);
    if params.options.rx_window != RxWindowSelection::Rx2 {
        windows.push(downlink_timing::rx1_window(
            region,
            params.tx_info.frequency,
            uplink_dr,
            0,
            downlink_dwell_time,
            Duration::from_secs(timing::JOIN_ACCEPT_DELAY1.into()),
        )?);
    }
    if params.options.rx_window != RxWindowSelection::Rx1 {
        windows.push(RxWindow {
            frequency: region.rx2_frequency,
            dr: region.rx2_dr,
            delay: Duration::from_secs(timing::JOIN_ACCEPT_DELAY2.into()),
        });
    }
    let items = windows
        .into_iter()
        .map(|w| {
            let tx_info = downlink_timing::delayed_tx_info(
                region,
                params.rx_info,
                w,
                params.options.downlink_tx_power,
            )?;
            Ok(gw::DownlinkFrameItem {
                phy_payload: phy_payload.clone(),
                tx_info_legacy: None,
                tx_info: Some(tx_info),
            })
        })
        .collect::<Result<Vec<_>, TxInfoError>>()?;
    let downlink = gw::DownlinkFrame {
        downlink_id: rng.next_u32(),
        items,
        gateway_id: params.rx_info.gateway_id.clone(),
        ..Default::default()
    };

    let session = DeviceSession {
        rx1_delay: network.rx1_delay,
        rx1_dr_offset: network.rx1_dr_offset,
        rx2_dr: network.rx2_dr,
        // A join-accept cannot move RX2: the device keeps the region's
        // default frequency until an RXParamSetupReq.
        rx2_frequency: region.rx2_frequency,
        enabled_uplink_channel_indices: channels.enabled,
        extra_uplink_channels: channels.extra,
        dr: uplink_dr,
        downlink_dwell_time_400ms: downlink_dwell_time,
        ..DeviceSession::new(
            params.dev_addr,
            mac_version,
            session_keys,
            network.id.clone(),
            region,
        )
    };
    Ok(JoinAccept { session, downlink })
}

/// The downlink dwell time a device assumes after a join: on in the regions
/// that limit downlinks by default (AS923), as the region configuration
/// resolves it.
fn default_downlink_dwell_time(region: &RegionParams) -> bool {
    region.default_dwell_time && region.rx1_dr_dwell_time.is_some()
}

fn session_keys(
    keys: &DeviceKeys,
    nwk_key: &crypto::Keyed<NwkKey>,
    valid: &ValidJoinRequest,
    join_nonce: JoinNonce,
    net_id: NetId,
    opt_neg: bool,
) -> SessionKeys11 {
    if opt_neg {
        crypto::derive_session_keys_11(
            nwk_key,
            &keys.app_key.keyed(),
            join_nonce,
            valid.join_eui,
            valid.dev_nonce,
        )
    } else {
        // LoRaWAN 1.0: the stored NwkKey is the device's AppKey; its NwkSKey
        // takes every network key role.
        crypto::derive_session_keys_10(nwk_key, join_nonce, net_id, valid.dev_nonce).into()
    }
}
