//! A simulated end device: the device side of LoRaWAN 1.0.x and 1.1, sans-IO.
//!
//! A [`Device`] builds the frames a device sends (join-requests, data
//! uplinks with their MAC answers) and reads the frames it receives
//! (join-accepts, data downlinks), with the radio settings a compliant
//! device keeps: its channels, data rate and power (LinkADRReq), RX1
//! offset, RX2 frequency and data rate (RXParamSetupReq), RX1 delay
//! (RXTimingSetupReq), extra channels (NewChannelReq, CFList). Every
//! transmission says when and where its receive windows open. It does no
//! I/O and reads no clock: the radio model around it delivers the frames
//! and keeps the time.
//!
//! ```
//! use lorawan::Eui64;
//! use lorawan::keys::{AppKey, NwkKey};
//! use lorawan::region::{Region, Revision};
//! use lorawan_sim::device::{Device, DeviceConfig, LorawanVersion, TxKind};
//!
//! let config = DeviceConfig::otaa(
//!     Eui64::from_u64(0x0102_0304_0506_0708),
//!     Eui64::from_u64(0x70b3_d57e_d000_0001),
//!     NwkKey::from_be_bytes([1; 16]),
//!     AppKey::from_be_bytes([2; 16]),
//!     LorawanVersion::V1_0_3,
//!     Region::Eu868,
//!     Revision::Rp002_1_0_3,
//! );
//! let mut device = Device::new(config);
//! let tx = device.join_request();
//! assert_eq!(tx.kind, TxKind::JoinRequest { dev_nonce: 0 });
//! assert_eq!(tx.phy_payload.len(), 23);
//! assert_eq!(tx.rx1.delay.as_secs(), 5); // JOIN_ACCEPT_DELAY1
//! assert!(!device.is_joined());
//! ```

use std::time::Duration;

use lorawan::crypto::{self, B1Fields, Keyed, SessionKeys11};
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, SNwkSIntKey};
use lorawan::mac::{
    self, DevStatusAns, DlChannelAns, LinkAdrReq, MacCommand, NewChannelAns, RejoinParamSetupAns,
    RekeyInd, ResetInd, RxParamSetupAns,
};
use lorawan::phy::{
    DataFrameMut, DataFrameRepr, FCtrl, Frame, FrameError, JoinRequestRepr, JoinType, MType,
};
use lorawan::region::{
    self, AdrSettings, Channel, ChannelSet, DeviceChannels, Region, RegionParams, Revision, timing,
};
use lorawan::{DevAddr, DevNonce, Direction, Eui64, FCnt, Mic};

/// The LoRaWAN version a device implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LorawanVersion {
    /// LoRaWAN 1.0.2.
    V1_0_2,
    /// LoRaWAN 1.0.3.
    V1_0_3,
    /// LoRaWAN 1.0.4 (DevNonces are a counter).
    V1_0_4,
    /// LoRaWAN 1.1 (separate network keys, encrypted FOpts).
    V1_1,
}

impl LorawanVersion {
    /// Whether this is LoRaWAN 1.1.
    pub const fn is_1_1(self) -> bool {
        matches!(self, Self::V1_1)
    }
}

/// How a device gets its session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activation {
    /// Over the air: root keys, a join-request, a join-accept. For a
    /// LoRaWAN 1.0.x device the NwkKey is what the specification calls its
    /// AppKey (as ChirpStack stores it) and `app_key` is unused.
    Otaa {
        /// The NwkKey (1.1), or the AppKey of a 1.0.x device.
        nwk_key: NwkKey,
        /// The AppKey of a 1.1 device.
        app_key: AppKey,
    },
    /// By personalization: the session given.
    Abp {
        /// The device address.
        dev_addr: DevAddr,
        /// The session keys (a 1.0.x device's NwkSKey in every network
        /// role: see [`SessionKeys11::from`]).
        keys: SessionKeys11,
    },
}

/// What a device is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// Its DevEUI.
    pub dev_eui: Eui64,
    /// Its JoinEUI (AppEUI).
    pub join_eui: Eui64,
    /// How it is activated.
    pub activation: Activation,
    /// The LoRaWAN version it implements.
    pub version: LorawanVersion,
    /// Its region and the Regional Parameters revision it follows.
    pub region: Region,
    /// The revision of the Regional Parameters.
    pub revision: Revision,
    /// Class C: its RX2 window is open whenever it does not transmit.
    pub class_c: bool,
    /// The uplink data rate until the network changes it.
    pub data_rate: u8,
    /// The battery level DevStatusAns reports (0: external power, 1 to
    /// 254: level, 255: cannot measure).
    pub battery: u8,
    /// The first DevNonce (a 1.0.4 or 1.1 device counts up from here).
    pub first_dev_nonce: u16,
}

impl DeviceConfig {
    /// An OTAA class A device at data rate 5.
    pub fn otaa(
        dev_eui: Eui64,
        join_eui: Eui64,
        nwk_key: NwkKey,
        app_key: AppKey,
        version: LorawanVersion,
        region: Region,
        revision: Revision,
    ) -> Self {
        let activation = Activation::Otaa { nwk_key, app_key };
        Self::new(dev_eui, join_eui, activation, version, region, revision)
    }

    /// An ABP class A device at data rate 5.
    pub fn abp(
        dev_eui: Eui64,
        dev_addr: DevAddr,
        keys: SessionKeys11,
        version: LorawanVersion,
        region: Region,
        revision: Revision,
    ) -> Self {
        let activation = Activation::Abp { dev_addr, keys };
        let join_eui = Eui64::from_u64(0);
        Self::new(dev_eui, join_eui, activation, version, region, revision)
    }

    fn new(
        dev_eui: Eui64,
        join_eui: Eui64,
        activation: Activation,
        version: LorawanVersion,
        region: Region,
        revision: Revision,
    ) -> Self {
        Self {
            dev_eui,
            join_eui,
            activation,
            version,
            region,
            revision,
            class_c: false,
            data_rate: 5,
            battery: 200,
            first_dev_nonce: 0,
        }
    }
}

/// When and where a receive window opens after a transmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxWindow {
    /// From the end of the transmission.
    pub delay: Duration,
    /// Hz.
    pub frequency: u32,
    /// Data-rate index.
    pub data_rate: u8,
}

/// What a transmission carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    /// A join-request with this DevNonce.
    JoinRequest {
        /// Its DevNonce.
        dev_nonce: u16,
    },
    /// A data uplink.
    Data {
        /// Its full frame counter.
        f_cnt: u32,
        /// Whether it asks for an acknowledgement.
        confirmed: bool,
    },
}

/// A frame to transmit, with its radio settings and receive windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    /// The PHYPayload.
    pub phy_payload: Vec<u8>,
    /// Hz.
    pub frequency: u32,
    /// Data-rate index.
    pub data_rate: u8,
    /// The first receive window.
    pub rx1: RxWindow,
    /// The second receive window.
    pub rx2: RxWindow,
    /// What it is.
    pub kind: TxKind,
}

/// A data downlink as the device read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDownlink {
    /// Its full frame counter (NFCntDown or AFCntDown for 1.1).
    pub f_cnt: u32,
    /// Its FPort, if it has a payload.
    pub f_port: Option<u8>,
    /// The decrypted application payload (empty on FPort 0).
    pub payload: Vec<u8>,
    /// Whether it asked for an acknowledgement (the next uplink gives it).
    pub confirmed: bool,
    /// Whether it acknowledged the device's last confirmed uplink.
    pub ack: bool,
    /// The MAC commands it carried (answered in the next uplink).
    pub mac_commands: Vec<MacCommand>,
}

/// What a received frame meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The join-accept of the pending join-request: the device has a
    /// session.
    Joined {
        /// The address the network gave.
        dev_addr: DevAddr,
    },
    /// A data downlink for this device.
    Data(DataDownlink),
}

/// Why a frame was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceError {
    /// It is not a valid frame, or its MIC is wrong.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    /// It is addressed to another device, or is not a downlink, or is a
    /// join-accept that does not verify with this device's key.
    #[error("not for this device")]
    NotForMe,
    /// A join-accept arrived with no join-request pending.
    #[error("a join-accept with no join-request pending")]
    NoJoinPending,
    /// The device has no session yet: it must join first.
    #[error("not joined")]
    NotJoined,
    /// A downlink frame counter at or below one already received.
    #[error("downlink frame counter {f_cnt} already seen")]
    Replay {
        /// The frame counter.
        f_cnt: u32,
    },
    /// The payload does not fit the data rate.
    #[error("payload of {len} bytes exceeds the {max} bytes of DR{data_rate}")]
    PayloadTooLong {
        /// The application payload's length.
        len: usize,
        /// What the data rate carries.
        max: usize,
        /// The data rate.
        data_rate: u8,
    },
    /// A LoRaWAN 1.1 join-accept whose JoinNonce is not above the last one
    /// this device accepted (a replayed accept).
    #[error("JoinNonce {join_nonce} is not above the last one accepted, {last}")]
    JoinNonceNotNew {
        /// The accept's JoinNonce.
        join_nonce: u32,
        /// The last one accepted.
        last: u32,
    },
    /// A saved state that cannot be restored.
    #[error("saved state: {0}")]
    State(String),
}

/// What a device keeps across restarts of the simulator: the next DevNonce
/// (a network refuses one already used), and its session, if it has one,
/// with its frame counters and receive settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceState {
    /// The next DevNonce.
    pub next_dev_nonce: u16,
    /// The session.
    pub session: Option<SessionState>,
    /// The JoinNonce of the last LoRaWAN 1.1 join-accept (the next must be
    /// above it).
    #[serde(default)]
    pub last_join_nonce: Option<u32>,
}

/// A session as [`DeviceState`] keeps it (keys and address in hex).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    /// The DevAddr.
    pub dev_addr: String,
    /// LoRaWAN 1.1 session rules.
    pub lorawan_1_1: bool,
    /// FNwkSIntKey (a 1.0 session's NwkSKey).
    pub f_nwk_s_int_key: String,
    /// SNwkSIntKey.
    pub s_nwk_s_int_key: String,
    /// NwkSEncKey.
    pub nwk_s_enc_key: String,
    /// AppSKey.
    pub app_s_key: String,
    /// The next FCntUp.
    pub f_cnt_up: u32,
    /// The next NFCntDown.
    pub n_f_cnt_down: u32,
    /// The next AFCntDown.
    pub a_f_cnt_down: u32,
    /// RX1 delay, seconds.
    pub rx1_delay: u8,
    /// RX1 data-rate offset.
    pub rx1_dr_offset: u8,
    /// RX2 data rate.
    pub rx2_dr: u8,
    /// RX2 frequency, Hz.
    pub rx2_frequency: u32,
}

/// A session's keys, ready for use.
struct Keys {
    f_nwk_s_int: Keyed<FNwkSIntKey>,
    s_nwk_s_int: Keyed<SNwkSIntKey>,
    nwk_s_enc: Keyed<NwkSEncKey>,
    app_s: Keyed<AppSKey>,
    /// The 1.0 NwkSKey (the same bytes as every network key of a 1.0
    /// session).
    nwk_s: Keyed<lorawan::keys::NwkSKey>,
}

impl Keys {
    fn new(keys: &SessionKeys11) -> Self {
        Self {
            f_nwk_s_int: keys.f_nwk_s_int_key.keyed(),
            s_nwk_s_int: keys.s_nwk_s_int_key.keyed(),
            nwk_s_enc: keys.nwk_s_enc_key.keyed(),
            app_s: keys.app_s_key.keyed(),
            nwk_s: lorawan::keys::NwkSKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes())
                .keyed(),
        }
    }
}

/// A device's session.
struct Session {
    dev_addr: DevAddr,
    /// The keys as given, for [`Device::state`].
    raw: SessionKeys11,
    keys: Keys,
    /// The 1.1 session rules apply (a 1.1 device on a 1.1 network).
    is_1_1: bool,
    /// The next FCntUp.
    f_cnt_up: u32,
    /// The next NFCntDown (every downlink for 1.0).
    n_f_cnt_down: u32,
    /// The next AFCntDown (1.1, FPort > 0).
    a_f_cnt_down: u32,
}

/// The state of a simulated device.
pub struct Device {
    config: DeviceConfig,
    params: &'static RegionParams,
    channels: DeviceChannels,
    adr: AdrSettings,
    rx1_dr_offset: u8,
    rx1_delay: u8,
    rx2_frequency: u32,
    rx2_dr: u8,
    session: Option<Session>,
    next_dev_nonce: u16,
    /// The DevNonce of the join-request waiting for its accept.
    pending_join: Option<u16>,
    /// Answers for the next uplink.
    answers: Vec<MacCommand>,
    /// Answers repeated in every uplink until a downlink arrives
    /// (RXParamSetupAns, RXTimingSetupAns, DlChannelAns).
    sticky: Vec<MacCommand>,
    /// The frame counter of a confirmed downlink the next uplink
    /// acknowledges.
    ack_down: Option<u32>,
    /// The frame counter of the last confirmed uplink, until acknowledged.
    confirmed_up: Option<u32>,
    /// RX1 frequencies set by DlChannelReq, by uplink channel index.
    dl_frequencies: std::collections::HashMap<usize, u32>,
    /// The SNR of the last downlink, dB (DevStatusAns margin).
    last_snr: i8,
    /// 1.1 OTAA: RekeyInd in every uplink until RekeyConf; 1.1 ABP:
    /// ResetInd until ResetConf.
    version_ind: Option<MacCommand>,
    /// The JoinNonce of the last 1.1 join-accept.
    last_join_nonce: Option<u32>,
    /// TXParamSetupReq's downlink dwell-time limit (RX1 data rate).
    downlink_dwell_time: bool,
    /// The last data uplink, for its repetitions (NbTrans).
    last_uplink: Option<LastUplink>,
    rng: u64,
}

/// A data uplink as sent, to repeat it on another channel.
struct LastUplink {
    phy_payload: Vec<u8>,
    f_cnt: u32,
    confirmed: bool,
    /// 1.1: the B1 fields of its MIC (the channel changes per repetition).
    conf_f_cnt: u16,
    data_rate: u8,
    /// Transmissions so far.
    sent: u8,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("dev_eui", &self.config.dev_eui)
            .field("dev_addr", &self.dev_addr())
            .field("f_cnt_up", &self.f_cnt_up())
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device as it is switched on: an ABP device has its session, an
    /// OTAA device must join.
    pub fn new(config: DeviceConfig) -> Self {
        let params = region::params(config.region, config.revision);
        let mut device = Self {
            params,
            channels: DeviceChannels::new(params),
            adr: AdrSettings {
                data_rate: config.data_rate,
                tx_power: 0,
                nb_trans: 1,
            },
            rx1_dr_offset: 0,
            rx1_delay: timing::RECEIVE_DELAY1 as u8,
            rx2_frequency: params.rx2_frequency,
            rx2_dr: params.rx2_dr,
            session: None,
            next_dev_nonce: config.first_dev_nonce,
            pending_join: None,
            answers: Vec::new(),
            sticky: Vec::new(),
            ack_down: None,
            confirmed_up: None,
            dl_frequencies: std::collections::HashMap::new(),
            last_snr: 10,
            version_ind: None,
            last_join_nonce: None,
            downlink_dwell_time: params.default_dwell_time,
            last_uplink: None,
            rng: config.dev_eui.to_u64() | 1,
            config,
        };
        if let Activation::Abp { dev_addr, keys } = &device.config.activation {
            let is_1_1 = device.config.version.is_1_1();
            device.session = Some(Session {
                dev_addr: *dev_addr,
                raw: *keys,
                keys: Keys::new(keys),
                is_1_1,
                f_cnt_up: 0,
                n_f_cnt_down: 0,
                a_f_cnt_down: 0,
            });
            if is_1_1 {
                device.version_ind = Some(MacCommand::ResetInd(ResetInd { minor: 1 }));
            }
        }
        device
    }

    /// What the device is.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// Whether it has a session.
    pub fn is_joined(&self) -> bool {
        self.session.is_some()
    }

    /// Its address, once it has a session.
    pub fn dev_addr(&self) -> Option<DevAddr> {
        self.session.as_ref().map(|s| s.dev_addr)
    }

    /// The next FCntUp (0 without a session).
    pub fn f_cnt_up(&self) -> u32 {
        self.session.as_ref().map_or(0, |s| s.f_cnt_up)
    }

    /// The next DevNonce.
    pub fn next_dev_nonce(&self) -> u16 {
        self.next_dev_nonce
    }

    /// What to save to resume this device later ([`restore`](Self::restore)).
    pub fn state(&self) -> DeviceState {
        DeviceState {
            next_dev_nonce: self.next_dev_nonce,
            last_join_nonce: self.last_join_nonce,
            session: self.session.as_ref().map(|s| SessionState {
                dev_addr: s.dev_addr.to_string(),
                lorawan_1_1: s.is_1_1,
                f_nwk_s_int_key: s.raw.f_nwk_s_int_key.to_string(),
                s_nwk_s_int_key: s.raw.s_nwk_s_int_key.to_string(),
                nwk_s_enc_key: s.raw.nwk_s_enc_key.to_string(),
                app_s_key: s.raw.app_s_key.to_string(),
                f_cnt_up: s.f_cnt_up,
                n_f_cnt_down: s.n_f_cnt_down,
                a_f_cnt_down: s.a_f_cnt_down,
                rx1_delay: self.rx1_delay,
                rx1_dr_offset: self.rx1_dr_offset,
                rx2_dr: self.rx2_dr,
                rx2_frequency: self.rx2_frequency,
            }),
        }
    }

    /// Resumes from a saved state: the DevNonce counter goes on from it
    /// (never back), and the saved session, if any, replaces the current
    /// one. Nothing changes if a value cannot be read.
    pub fn restore(&mut self, state: &DeviceState) -> Result<(), DeviceError> {
        fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, DeviceError> {
            value
                .parse()
                .map_err(|_| DeviceError::State(format!("{field}: {value:?}")))
        }
        let session = match &state.session {
            None => None,
            Some(s) => {
                let raw = SessionKeys11 {
                    f_nwk_s_int_key: parse("f_nwk_s_int_key", &s.f_nwk_s_int_key)?,
                    s_nwk_s_int_key: parse("s_nwk_s_int_key", &s.s_nwk_s_int_key)?,
                    nwk_s_enc_key: parse("nwk_s_enc_key", &s.nwk_s_enc_key)?,
                    app_s_key: parse("app_s_key", &s.app_s_key)?,
                };
                if self.params.data_rate(s.rx2_dr).is_none() {
                    return Err(DeviceError::State(format!("rx2_dr: {}", s.rx2_dr)));
                }
                Some((
                    Session {
                        dev_addr: parse("dev_addr", &s.dev_addr)?,
                        raw,
                        keys: Keys::new(&raw),
                        is_1_1: s.lorawan_1_1,
                        f_cnt_up: s.f_cnt_up,
                        n_f_cnt_down: s.n_f_cnt_down,
                        a_f_cnt_down: s.a_f_cnt_down,
                    },
                    s,
                ))
            }
        };
        self.next_dev_nonce = self.next_dev_nonce.max(state.next_dev_nonce);
        self.last_join_nonce = self.last_join_nonce.max(state.last_join_nonce);
        if let Some((session, s)) = session {
            self.rx1_delay = s.rx1_delay.clamp(1, 15);
            self.rx1_dr_offset = s.rx1_dr_offset.min(7);
            self.rx2_dr = s.rx2_dr;
            self.rx2_frequency = s.rx2_frequency;
            self.session = Some(session);
            self.pending_join = None;
        }
        Ok(())
    }

    /// The uplink data rate, TX power and NbTrans in use.
    pub fn adr_settings(&self) -> AdrSettings {
        self.adr
    }

    /// Where and at which data rate class C reception listens (RX2).
    pub fn rx2(&self) -> (u32, u8) {
        (self.rx2_frequency, self.rx2_dr)
    }

    /// A join-request with the next DevNonce, on a random default channel.
    /// The device forgets any session it had once the accept arrives.
    pub fn join_request(&mut self) -> Transmission {
        let dev_nonce = self.next_dev_nonce;
        self.next_dev_nonce = self.next_dev_nonce.wrapping_add(1);
        self.pending_join = Some(dev_nonce);
        let repr = JoinRequestRepr {
            join_eui: self.config.join_eui,
            dev_eui: self.config.dev_eui,
            dev_nonce: DevNonce(dev_nonce),
        };
        let mut buf = [0u8; 23];
        // 23 bytes is a join-request's exact length.
        let n = match &self.config.activation {
            Activation::Otaa { nwk_key, .. } => repr.build(&nwk_key.keyed(), &mut buf),
            Activation::Abp { .. } => repr.emit(Mic::default(), &mut buf),
        }
        .unwrap_or(0);
        // Join-requests go out on the default channels, at the device's
        // data rate where they allow it.
        let (channel, frequency) = self.pick_channel(true);
        let data_rate = self.adr.data_rate.clamp(channel.min_dr, channel.max_dr);
        let rx1 = self.rx1(None, frequency, data_rate, timing::JOIN_ACCEPT_DELAY1, 0);
        let rx2 = RxWindow {
            delay: Duration::from_secs(u64::from(timing::JOIN_ACCEPT_DELAY2)),
            frequency: self.params.rx2_frequency,
            data_rate: self.params.rx2_dr,
        };
        Transmission {
            phy_payload: buf[..n].to_vec(),
            frequency,
            data_rate,
            rx1,
            rx2,
            kind: TxKind::JoinRequest { dev_nonce },
        }
    }

    /// A data uplink of `payload` on `f_port` (1 to 223), confirmed or not,
    /// carrying the pending MAC answers and the acknowledgement of a
    /// confirmed downlink.
    pub fn uplink(
        &mut self,
        f_port: u8,
        payload: &[u8],
        confirmed: bool,
    ) -> Result<Transmission, DeviceError> {
        if self.session.is_none() {
            return Err(DeviceError::NotJoined);
        }
        let (channel_index, frequency) = {
            let (channel, frequency) = self.pick_channel(false);
            let index = self.channel_index(channel).unwrap_or(0);
            (index, frequency)
        };
        let data_rate = self.adr.data_rate;
        let max = self
            .params
            .max_payload(data_rate, self.channels.uplink_dwell_time(), false)
            .map_or(0, |m| usize::from(m.n));
        // FOpts: the version indication, the answers, the sticky answers,
        // as many as fit in 15 bytes; the rest wait.
        let mut fopts = Vec::with_capacity(15);
        let mut carried: usize = 0;
        let commands: Vec<MacCommand> = self
            .version_ind
            .iter()
            .chain(&self.sticky)
            .chain(&self.answers)
            .copied()
            .collect();
        for command in &commands {
            let mut buf = [0u8; mac::MAX_ENCODED_LEN];
            let Ok(n) = command.emit(&mut buf) else {
                carried += 1;
                continue;
            };
            if fopts.len() + n > 15 {
                break;
            }
            fopts.extend_from_slice(&buf[..n]);
            carried += 1;
        }
        let answers_carried = carried
            .saturating_sub(usize::from(self.version_ind.is_some()) + self.sticky.len())
            .min(self.answers.len());
        if payload.len() + fopts.len() > max {
            return Err(DeviceError::PayloadTooLong {
                len: payload.len(),
                max: max.saturating_sub(fopts.len()),
                data_rate,
            });
        }
        self.answers.drain(..answers_carried);

        let ack_down = self.ack_down.take();
        let session = self.session.as_mut().ok_or(DeviceError::NotJoined)?;
        let f_cnt = session.f_cnt_up;
        session.f_cnt_up = session.f_cnt_up.wrapping_add(1);
        let repr = DataFrameRepr {
            mtype: if confirmed {
                MType::ConfirmedDataUp
            } else {
                MType::UnconfirmedDataUp
            },
            dev_addr: session.dev_addr,
            fctrl: FCtrl::default().with_adr(true).with_ack(ack_down.is_some()),
            fcnt: f_cnt,
            fopts: &fopts,
            fport: Some(f_port),
            frm_payload: payload,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(Mic::default(), &mut buf)?;
        buf.truncate(n);
        let mut frame = DataFrameMut::new_checked(&mut buf)?;
        frame.crypt_frm_payload(&session.keys.app_s, f_cnt)?;
        if session.is_1_1 {
            frame.crypt_fopts(&session.keys.nwk_s_enc, f_cnt);
            let b1 = B1Fields {
                conf_f_cnt: ack_down.map_or(0, |f| f as u16),
                tx_dr: data_rate,
                tx_ch: channel_index as u8,
            };
            frame.set_uplink_mic_11(
                &session.keys.f_nwk_s_int,
                &session.keys.s_nwk_s_int,
                b1,
                f_cnt,
            )?;
        } else {
            frame.set_uplink_mic_10(&session.keys.nwk_s, f_cnt)?;
        }
        self.confirmed_up = confirmed.then_some(f_cnt);
        self.last_uplink = Some(LastUplink {
            phy_payload: buf.clone(),
            f_cnt,
            confirmed,
            conf_f_cnt: ack_down.map_or(0, |f| f as u16),
            data_rate,
            sent: 1,
        });
        Ok(self.data_transmission(buf, channel_index, frequency, data_rate, f_cnt, confirmed))
    }

    /// The next transmission of the last data uplink, if NbTrans asks for
    /// one (TS001: an unconfirmed uplink is sent NbTrans times; a confirmed
    /// one up to NbTrans times until acknowledged), on a channel picked
    /// anew. Call it after the uplink's receive windows have passed without
    /// a downlink; any downlink ends the repetitions.
    pub fn repeat(&mut self) -> Option<Transmission> {
        let last = self.last_uplink.as_ref()?;
        if last.sent >= self.adr.nb_trans.max(1) {
            return None;
        }
        let (mut phy_payload, f_cnt, confirmed, conf_f_cnt, data_rate) = (
            last.phy_payload.clone(),
            last.f_cnt,
            last.confirmed,
            last.conf_f_cnt,
            last.data_rate,
        );
        let (channel, frequency) = self.pick_channel(false);
        let channel_index = self.channel_index(channel).unwrap_or(0);
        let session = self.session.as_ref()?;
        if session.is_1_1 {
            // The 1.1 MIC covers the channel.
            let mut frame = DataFrameMut::new_checked(&mut phy_payload).ok()?;
            let b1 = B1Fields {
                conf_f_cnt,
                tx_dr: data_rate,
                tx_ch: channel_index as u8,
            };
            frame
                .set_uplink_mic_11(
                    &session.keys.f_nwk_s_int,
                    &session.keys.s_nwk_s_int,
                    b1,
                    f_cnt,
                )
                .ok()?;
        }
        if let Some(last) = self.last_uplink.as_mut() {
            last.sent += 1;
        }
        Some(self.data_transmission(
            phy_payload,
            channel_index,
            frequency,
            data_rate,
            f_cnt,
            confirmed,
        ))
    }

    /// A data frame on the air, with its receive windows.
    fn data_transmission(
        &self,
        phy_payload: Vec<u8>,
        channel_index: usize,
        frequency: u32,
        data_rate: u8,
        f_cnt: u32,
        confirmed: bool,
    ) -> Transmission {
        let rx1 = self.rx1(
            Some(channel_index),
            frequency,
            data_rate,
            u32::from(self.rx1_delay),
            self.rx1_dr_offset,
        );
        let rx2 = RxWindow {
            delay: rx1.delay + Duration::from_secs(1),
            frequency: self.rx2_frequency,
            data_rate: self.rx2_dr,
        };
        Transmission {
            phy_payload,
            frequency,
            data_rate,
            rx1,
            rx2,
            kind: TxKind::Data { f_cnt, confirmed },
        }
    }

    /// Reads a frame the radio delivered, received with `snr` dB.
    pub fn receive(&mut self, phy_payload: &[u8], snr: i8) -> Result<Received, DeviceError> {
        match Frame::parse(phy_payload)? {
            Frame::JoinAccept(accept) => {
                let dev_nonce = self.pending_join.ok_or(DeviceError::NoJoinPending)?;
                let Activation::Otaa { nwk_key, app_key } = &self.config.activation else {
                    return Err(DeviceError::NoJoinPending);
                };
                let nwk_key = nwk_key.keyed();
                let accept = accept.decrypt(&nwk_key);
                let opt_neg = self.config.version.is_1_1() && accept.dl_settings().opt_neg();
                // Join-accepts carry no address: one that does not verify
                // with this device's key is another device's (or damaged).
                let keys: SessionKeys11 = if opt_neg {
                    let js_int = crypto::derive_js_int_key(&nwk_key, self.config.dev_eui).keyed();
                    accept
                        .verify_mic_11(
                            &js_int,
                            JoinType::JoinRequest,
                            self.config.join_eui,
                            DevNonce(dev_nonce),
                        )
                        .map_err(|_| DeviceError::NotForMe)?;
                    // 1.1 (TS001 6.2.3): a JoinNonce not above the last one
                    // is a replay; the device ignores the accept.
                    let join_nonce = accept.join_nonce().to_u32();
                    if let Some(last) = self.last_join_nonce.filter(|&l| join_nonce <= l) {
                        return Err(DeviceError::JoinNonceNotNew { join_nonce, last });
                    }
                    self.last_join_nonce = Some(join_nonce);
                    crypto::derive_session_keys_11(
                        &nwk_key,
                        &app_key.keyed(),
                        accept.join_nonce(),
                        self.config.join_eui,
                        DevNonce(dev_nonce),
                    )
                } else {
                    accept
                        .verify_mic_10(&nwk_key)
                        .map_err(|_| DeviceError::NotForMe)?;
                    crypto::derive_session_keys_10(
                        &nwk_key,
                        accept.join_nonce(),
                        accept.home_net_id(),
                        DevNonce(dev_nonce),
                    )
                    .into()
                };
                self.pending_join = None;
                let dl = accept.dl_settings();
                self.rx1_dr_offset = dl.rx1_dr_offset();
                self.rx2_dr = dl.rx2_data_rate();
                self.rx2_frequency = self.params.rx2_frequency;
                self.rx1_delay = accept.rx_delay().seconds();
                self.channels = DeviceChannels::new(self.params);
                self.dl_frequencies.clear();
                if let Some(cf_list) = accept.cf_list() {
                    // Type 0: entry i defines the channel after the defaults
                    // at its own position (0: none there), so that indices
                    // stay the network's. Type 1: the enabled channels.
                    if let Some(frequencies) = cf_list.frequencies() {
                        let first = self.channels.defined().len();
                        for (i, &frequency) in frequencies.iter().enumerate() {
                            if frequency != 0 {
                                let channel = Channel {
                                    frequency,
                                    min_dr: 0,
                                    max_dr: 5,
                                };
                                self.channels.set_channel(first + i, Some(channel));
                            }
                        }
                    } else if let Some(masks) = cf_list.channel_masks() {
                        let mut enabled = ChannelSet::EMPTY;
                        for (b, mask) in masks.iter().enumerate() {
                            enabled.set_block(b, mac::ChMask(*mask));
                        }
                        let defined = self.channels.defined();
                        let _ = self.channels.set_enabled(enabled.intersection(&defined));
                    }
                }
                self.adr.nb_trans = 1;
                self.last_uplink = None;
                self.downlink_dwell_time = self.params.default_dwell_time;
                self.channels
                    .set_uplink_dwell_time(self.params.default_dwell_time);
                self.answers.clear();
                self.sticky.clear();
                self.ack_down = None;
                self.confirmed_up = None;
                self.version_ind = opt_neg.then_some(MacCommand::RekeyInd(RekeyInd { minor: 1 }));
                let dev_addr = accept.dev_addr();
                self.session = Some(Session {
                    dev_addr,
                    raw: keys,
                    keys: Keys::new(&keys),
                    is_1_1: opt_neg,
                    f_cnt_up: 0,
                    n_f_cnt_down: 0,
                    a_f_cnt_down: 0,
                });
                self.last_snr = snr;
                Ok(Received::Joined { dev_addr })
            }
            Frame::Data(down) => {
                let session = self.session.as_mut().ok_or(DeviceError::NotJoined)?;
                if down.direction() != Direction::Downlink || down.dev_addr() != session.dev_addr {
                    return Err(DeviceError::NotForMe);
                }
                let application = session.is_1_1 && down.fport().is_some_and(|p| p > 0);
                let next = if application {
                    session.a_f_cnt_down
                } else {
                    session.n_f_cnt_down
                };
                let f_cnt = FCnt::reconstruct(next, down.fcnt());
                if f_cnt < next {
                    return Err(DeviceError::Replay { f_cnt });
                }
                let ack = down.fctrl().ack();
                if session.is_1_1 {
                    let conf = if ack {
                        self.confirmed_up.map_or(0, |f| f as u16)
                    } else {
                        0
                    };
                    down.verify_downlink_mic_11(&session.keys.s_nwk_s_int, conf, f_cnt)?;
                } else {
                    down.verify_downlink_mic_10(&session.keys.nwk_s, f_cnt)?;
                }
                let next = f_cnt.wrapping_add(1);
                if application {
                    session.a_f_cnt_down = next;
                } else {
                    session.n_f_cnt_down = next;
                }
                // MAC commands: in FOpts (encrypted in 1.1), or the payload
                // of FPort 0.
                let mut fopts = [0u8; 16];
                let fopts: &[u8] = if session.is_1_1 {
                    down.decrypt_fopts_into(&session.keys.nwk_s_enc, f_cnt, &mut fopts)?
                } else {
                    down.fopts()
                };
                let mut out = vec![0u8; down.frm_payload().len()];
                let (f_port, payload, mac_bytes) = match down.fport() {
                    Some(0) => {
                        let bytes = if session.is_1_1 {
                            down.decrypt_frm_payload_into(&session.keys.nwk_s_enc, f_cnt, &mut out)?
                        } else {
                            down.decrypt_frm_payload_into(&session.keys.nwk_s, f_cnt, &mut out)?
                        };
                        (Some(0), Vec::new(), bytes.to_vec())
                    }
                    Some(port) => {
                        let bytes =
                            down.decrypt_frm_payload_into(&session.keys.app_s, f_cnt, &mut out)?;
                        (Some(port), bytes.to_vec(), fopts.to_vec())
                    }
                    None => (None, Vec::new(), fopts.to_vec()),
                };
                let confirmed = down.is_confirmed();
                // The commands up to the first one that cannot be read (an
                // unknown or proprietary CID, a truncated one): TS001 has the
                // device process those and ignore the rest, not drop the frame.
                let mac_commands: Vec<MacCommand> = mac::parse(Direction::Downlink, &mac_bytes)
                    .map_while(Result::ok)
                    .collect();
                if ack {
                    self.confirmed_up = None;
                }
                // Any downlink ends the repetition of sticky answers, and
                // of the last uplink.
                self.sticky.clear();
                self.last_uplink = None;
                self.last_snr = snr;
                if confirmed {
                    self.ack_down = Some(f_cnt);
                }
                self.answer(&mac_commands);
                Ok(Received::Data(DataDownlink {
                    f_cnt,
                    f_port,
                    payload,
                    confirmed,
                    ack,
                    mac_commands,
                }))
            }
            _ => Err(DeviceError::NotForMe),
        }
    }

    /// Applies the network's commands and queues the answers a compliant
    /// device gives.
    fn answer(&mut self, commands: &[MacCommand]) {
        let mut adr_block: Vec<LinkAdrReq> = Vec::new();
        let flush_adr = |device: &mut Self, block: &mut Vec<LinkAdrReq>| {
            if block.is_empty() {
                return;
            }
            let ans = device.channels.apply_link_adr(block, &mut device.adr);
            // One answer per command of the block.
            for _ in 0..block.len() {
                device.answers.push(MacCommand::LinkAdrAns(ans));
            }
            block.clear();
        };
        for command in commands {
            if let MacCommand::LinkAdrReq(req) = command {
                adr_block.push(*req);
                continue;
            }
            flush_adr(self, &mut adr_block);
            match *command {
                MacCommand::DutyCycleReq(_) => self.answers.push(MacCommand::DutyCycleAns),
                MacCommand::RxParamSetupReq(req) => {
                    let rx1_dr_offset_ack = self
                        .params
                        .rx1_data_rate(
                            self.adr.data_rate,
                            req.rx1_dr_offset,
                            self.downlink_dwell_time,
                        )
                        .is_some();
                    let rx2_data_rate_ack = self
                        .params
                        .data_rate(req.rx2_data_rate)
                        .is_some_and(|d| d.downlink);
                    let (low, high) = self.params.region.band();
                    let channel_ack = (low..=high).contains(&req.frequency);
                    let ans = RxParamSetupAns {
                        rx1_dr_offset_ack,
                        rx2_data_rate_ack,
                        channel_ack,
                    };
                    if rx1_dr_offset_ack && rx2_data_rate_ack && channel_ack {
                        self.rx1_dr_offset = req.rx1_dr_offset;
                        self.rx2_dr = req.rx2_data_rate;
                        self.rx2_frequency = req.frequency;
                    }
                    self.sticky.push(MacCommand::RxParamSetupAns(ans));
                }
                MacCommand::DevStatusReq => {
                    self.answers.push(MacCommand::DevStatusAns(DevStatusAns {
                        battery: self.config.battery,
                        margin: self.last_snr.clamp(-32, 31),
                    }));
                }
                MacCommand::NewChannelReq(req) => {
                    let (low, high) = self.params.region.band();
                    let channel_frequency_ok =
                        req.frequency == 0 || (low..=high).contains(&req.frequency);
                    let data_rate_range_ok = req.min_dr <= req.max_dr
                        && self.params.data_rate(req.min_dr).is_some()
                        && self.params.data_rate(req.max_dr).is_some();
                    let mut ans = NewChannelAns {
                        data_rate_range_ok,
                        channel_frequency_ok,
                    };
                    if data_rate_range_ok && channel_frequency_ok {
                        let channel = (req.frequency != 0).then_some(Channel {
                            frequency: req.frequency,
                            min_dr: req.min_dr,
                            max_dr: req.max_dr,
                        });
                        if !self
                            .channels
                            .set_channel(usize::from(req.ch_index), channel)
                        {
                            ans.channel_frequency_ok = false;
                        }
                    }
                    self.answers.push(MacCommand::NewChannelAns(ans));
                }
                MacCommand::RxTimingSetupReq(req) => {
                    self.rx1_delay = req.delay.max(1);
                    self.sticky.push(MacCommand::RxTimingSetupAns);
                }
                MacCommand::TxParamSetupReq(req) if self.params.tx_param_setup => {
                    self.channels.set_uplink_dwell_time(req.uplink_dwell_time);
                    self.downlink_dwell_time = req.downlink_dwell_time;
                    self.answers.push(MacCommand::TxParamSetupAns);
                }
                MacCommand::RejoinParamSetupReq(_)
                    if self.session.as_ref().is_some_and(|s| s.is_1_1) =>
                {
                    // Rejoin-requests are not sent: both limits are
                    // accepted, as a device without them may.
                    self.answers
                        .push(MacCommand::RejoinParamSetupAns(RejoinParamSetupAns {
                            time_ok: true,
                        }));
                }
                MacCommand::DlChannelReq(req) => {
                    let uplink_frequency_exists =
                        self.channels.channel(usize::from(req.ch_index)).is_some();
                    let (low, high) = self.params.region.band();
                    let ans = DlChannelAns {
                        uplink_frequency_exists,
                        channel_frequency_ok: (low..=high).contains(&req.frequency),
                    };
                    if ans.uplink_frequency_exists && ans.channel_frequency_ok {
                        self.dl_frequencies
                            .insert(usize::from(req.ch_index), req.frequency);
                    }
                    self.sticky.push(MacCommand::DlChannelAns(ans));
                }
                MacCommand::RekeyConf(_) | MacCommand::ResetConf(_) => self.version_ind = None,
                MacCommand::AdrParamSetupReq(_) => {
                    self.answers.push(MacCommand::AdrParamSetupAns);
                }
                // Answers to what the device asked, and commands it does
                // not implement (class B, relay), need nothing back.
                _ => {}
            }
        }
        flush_adr(self, &mut adr_block);
    }

    /// A MAC command to send with the next uplink (LinkCheckReq,
    /// DeviceTimeReq).
    pub fn request(&mut self, command: MacCommand) {
        if command.direction() == Direction::Uplink {
            self.answers.push(command);
        }
    }

    /// The RX1 window after an uplink on channel `channel` (`frequency`) at
    /// `data_rate`: the channel's DlChannelReq frequency if it has one.
    fn rx1(
        &self,
        channel: Option<usize>,
        frequency: u32,
        data_rate: u8,
        delay_s: u32,
        offset: u8,
    ) -> RxWindow {
        let dl = channel.and_then(|c| self.dl_frequencies.get(&c).copied());
        let default = || self.params.rx1_frequency(frequency).unwrap_or(frequency);
        RxWindow {
            delay: Duration::from_secs(u64::from(delay_s.max(1))),
            frequency: dl.unwrap_or_else(default),
            data_rate: self
                .params
                .rx1_data_rate(data_rate, offset, self.downlink_dwell_time)
                .unwrap_or(data_rate),
        }
    }

    /// A random enabled channel that allows the data rate (for a
    /// join-request: a default channel), and its frequency.
    fn pick_channel(&mut self, join: bool) -> (Channel, u32) {
        let enabled = self.channels.enabled();
        let candidates: Vec<Channel> = enabled
            .iter()
            .filter_map(|i| self.channels.channel(i))
            .filter(|c| (c.min_dr..=c.max_dr).contains(&self.adr.data_rate) || join)
            .collect();
        let candidates = if join {
            let defaults: Vec<Channel> = (0..3)
                .filter_map(|i| self.params.uplink_channel(i))
                .collect();
            if defaults.is_empty() {
                candidates
            } else {
                defaults
            }
        } else {
            candidates
        };
        let pick = match candidates.len() {
            0 => self.params.uplink_channel(0).unwrap_or(Channel {
                frequency: self.params.rx2_frequency,
                min_dr: 0,
                max_dr: 5,
            }),
            n => candidates[(self.random() % n as u64) as usize],
        };
        (pick, pick.frequency)
    }

    /// The index of `channel` among the device's channels.
    fn channel_index(&self, channel: Channel) -> Option<usize> {
        self.channels
            .defined()
            .iter()
            .find(|&i| self.channels.channel(i) == Some(channel))
    }

    /// xorshift64*: a deterministic sequence per device.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lorawan::phy::{DlSettings, JoinAcceptRepr, RxDelay};
    use lorawan::{JoinNonce, NetId};

    const DEV_EUI: u64 = 0x0102_0304_0506_0708;
    const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;
    const NWK_KEY: [u8; 16] = [0x11; 16];
    const APP_KEY: [u8; 16] = [0x22; 16];
    const DEV_ADDR: u32 = 0x0400_0001;

    fn device(version: LorawanVersion) -> Device {
        Device::new(DeviceConfig::otaa(
            Eui64::from_u64(DEV_EUI),
            Eui64::from_u64(JOIN_EUI),
            NwkKey::from_be_bytes(NWK_KEY),
            AppKey::from_be_bytes(APP_KEY),
            version,
            Region::Eu868,
            Revision::Rp002_1_0_3,
        ))
    }

    /// What the network answers a join-request with, and the keys it
    /// derives.
    fn accept(request: &[u8], opt_neg: bool) -> (Vec<u8>, SessionKeys11) {
        accept_with(request, opt_neg, None)
    }

    fn accept_with(
        request: &[u8],
        opt_neg: bool,
        cf_list: Option<lorawan::phy::CfList>,
    ) -> (Vec<u8>, SessionKeys11) {
        accept_nonce(request, opt_neg, cf_list, 7)
    }

    fn accept_nonce(
        request: &[u8],
        opt_neg: bool,
        cf_list: Option<lorawan::phy::CfList>,
        join_nonce: u32,
    ) -> (Vec<u8>, SessionKeys11) {
        let Ok(Frame::JoinRequest(jr)) = Frame::parse(request) else {
            panic!("not a join-request: {request:02x?}");
        };
        let nwk_key = NwkKey::from_be_bytes(NWK_KEY).keyed();
        jr.verify_mic(&nwk_key).expect("signed with the NwkKey");
        assert_eq!(jr.dev_eui(), Eui64::from_u64(DEV_EUI));
        let repr = JoinAcceptRepr {
            join_nonce: JoinNonce::from_u32(join_nonce).unwrap(),
            home_net_id: NetId::from_le_bytes([0, 0, 0]),
            dev_addr: DevAddr::from_u32(DEV_ADDR),
            dl_settings: DlSettings::new(opt_neg, 1, 0).unwrap(),
            rx_delay: RxDelay(2),
            cf_list,
        };
        let mut buf = [0u8; 33];
        let (n, keys) = if opt_neg {
            let js_int = crypto::derive_js_int_key(&nwk_key, jr.dev_eui()).keyed();
            let n = repr
                .build_11(
                    &js_int,
                    JoinType::JoinRequest,
                    jr.join_eui(),
                    jr.dev_nonce(),
                    &nwk_key,
                    &mut buf,
                )
                .unwrap();
            let keys = crypto::derive_session_keys_11(
                &nwk_key,
                &AppKey::from_be_bytes(APP_KEY).keyed(),
                repr.join_nonce,
                jr.join_eui(),
                jr.dev_nonce(),
            );
            (n, keys)
        } else {
            let n = repr.build_10(&nwk_key, &mut buf).unwrap();
            let keys = crypto::derive_session_keys_10(
                &nwk_key,
                repr.join_nonce,
                repr.home_net_id,
                jr.dev_nonce(),
            )
            .into();
            (n, keys)
        };
        (buf[..n].to_vec(), keys)
    }

    /// A downlink as the network builds it (1.0 MIC and keys).
    fn downlink_10(keys: &SessionKeys11, f_cnt: u32, confirmed: bool, fopts: &[u8]) -> Vec<u8> {
        let repr = DataFrameRepr {
            mtype: if confirmed {
                MType::ConfirmedDataDown
            } else {
                MType::UnconfirmedDataDown
            },
            dev_addr: DevAddr::from_u32(DEV_ADDR),
            fctrl: FCtrl::default().with_ack(true),
            fcnt: f_cnt,
            fopts,
            fport: Some(10),
            frm_payload: b"on",
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(Mic::default(), &mut buf).unwrap();
        buf.truncate(n);
        let mut frame = DataFrameMut::new_checked(&mut buf).unwrap();
        frame
            .crypt_frm_payload(&keys.app_s_key.keyed(), f_cnt)
            .unwrap();
        let nwk_s = lorawan::keys::NwkSKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes());
        frame.set_downlink_mic_10(&nwk_s.keyed(), f_cnt).unwrap();
        buf
    }

    /// The data uplink `tx`, its 1.1 MIC checked for its channel (one of
    /// EU868's three default ones) and data rate.
    fn verify_11<'a>(
        tx: &'a Transmission,
        keys: &SessionKeys11,
        f_cnt: u32,
    ) -> lorawan::phy::DataFrame<'a> {
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        let channel = [868_100_000, 868_300_000, 868_500_000]
            .iter()
            .position(|f| *f == tx.frequency)
            .unwrap();
        let b1 = B1Fields {
            conf_f_cnt: 0,
            tx_dr: tx.data_rate,
            tx_ch: channel as u8,
        };
        up.verify_uplink_mic_11(
            &keys.f_nwk_s_int_key.keyed(),
            &keys.s_nwk_s_int_key.keyed(),
            b1,
            f_cnt,
        )
        .unwrap();
        up
    }

    fn mac_bytes(commands: &[MacCommand]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in commands {
            let mut buf = [0u8; mac::MAX_ENCODED_LEN];
            let n = c.emit(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn lorawan_1_0_device_joins_sends_and_answers_the_network() {
        let mut d = device(LorawanVersion::V1_0_3);
        let tx = d.join_request();
        assert_eq!(tx.kind, TxKind::JoinRequest { dev_nonce: 0 });
        assert!([868_100_000, 868_300_000, 868_500_000].contains(&tx.frequency));
        assert_eq!(tx.rx2.delay, Duration::from_secs(6));
        assert_eq!((tx.rx2.frequency, tx.rx2.data_rate), (869_525_000, 0));
        let (accept, keys) = accept(&tx.phy_payload, false);
        // A corrupted accept (or another device's) fails its MIC and
        // changes nothing.
        let mut bad = accept.clone();
        bad[5] ^= 1;
        assert_eq!(d.receive(&bad, 5), Err(DeviceError::NotForMe));
        assert!(!d.is_joined());
        assert_eq!(
            d.receive(&accept, 5),
            Ok(Received::Joined {
                dev_addr: DevAddr::from_u32(DEV_ADDR)
            })
        );
        // A second accept without a join-request is refused.
        assert_eq!(d.receive(&accept, 5), Err(DeviceError::NoJoinPending));

        let tx = d.uplink(2, b"hello", true).unwrap();
        assert_eq!(
            tx.kind,
            TxKind::Data {
                f_cnt: 0,
                confirmed: true
            }
        );
        assert_eq!(
            tx.rx1.delay,
            Duration::from_secs(2),
            "RxDelay of the accept"
        );
        assert_eq!(tx.rx1.data_rate, 4, "DR5 with RX1DROffset 1");
        assert_eq!(tx.rx2.delay, Duration::from_secs(3));
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        let nwk_s = lorawan::keys::NwkSKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes());
        up.verify_uplink_mic_10(&nwk_s.keyed(), 0).unwrap();
        let mut out = [0u8; 16];
        let plain = up
            .decrypt_frm_payload_into(&keys.app_s_key.keyed(), 0, &mut out)
            .unwrap();
        assert_eq!(plain, b"hello");
        assert!(up.is_confirmed() && up.fctrl().adr() && !up.fctrl().ack());

        // A confirmed downlink acknowledging it, with LinkADRReq (DR3, all
        // three default channels) and DevStatusReq.
        let fopts = mac_bytes(&[
            MacCommand::LinkAdrReq(LinkAdrReq {
                data_rate: 3,
                tx_power: 1,
                ch_mask: lorawan::mac::ChMask(0x0007),
                ch_mask_cntl: 0,
                nb_trans: 1,
            }),
            MacCommand::DevStatusReq,
        ]);
        let down = downlink_10(&keys, 0, true, &fopts);
        let Ok(Received::Data(data)) = d.receive(&down, -3) else {
            panic!("not taken");
        };
        assert_eq!((data.f_port, &data.payload[..]), (Some(10), &b"on"[..]));
        assert!(data.ack && data.confirmed);
        assert_eq!(data.mac_commands.len(), 2);
        assert_eq!(d.adr_settings().data_rate, 3);
        // The same frame again is a replay.
        assert_eq!(d.receive(&down, -3), Err(DeviceError::Replay { f_cnt: 0 }));

        // The next uplink acknowledges it and carries the answers.
        let tx = d.uplink(2, b"again", false).unwrap();
        assert_eq!(tx.data_rate, 3);
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        up.verify_uplink_mic_10(&nwk_s.keyed(), 1).unwrap();
        assert!(up.fctrl().ack());
        let answers = mac::parse(Direction::Uplink, up.fopts())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(
            answers,
            [
                MacCommand::LinkAdrAns(lorawan::mac::LinkAdrAns {
                    power_ack: true,
                    data_rate_ack: true,
                    channel_mask_ack: true,
                }),
                MacCommand::DevStatusAns(DevStatusAns {
                    battery: 200,
                    margin: -3
                }),
            ]
        );
        // Answered once: the third uplink carries nothing.
        let tx = d.uplink(2, b"", false).unwrap();
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        assert!(up.fopts().is_empty() && !up.fctrl().ack());
    }

    #[test]
    fn nb_trans_repeats_the_last_uplink_until_a_downlink() {
        let mut d = device(LorawanVersion::V1_0_3);
        let tx = d.join_request();
        let (accept, keys) = accept(&tx.phy_payload, false);
        d.receive(&accept, 5).unwrap();
        let first = d.uplink(2, b"one", false).unwrap();
        assert!(d.repeat().is_none(), "NbTrans 1");
        // LinkADRReq: NbTrans 3.
        let fopts = mac_bytes(&[MacCommand::LinkAdrReq(LinkAdrReq {
            data_rate: 5,
            tx_power: 1,
            ch_mask: lorawan::mac::ChMask(0x0007),
            ch_mask_cntl: 0,
            nb_trans: 3,
        })]);
        d.receive(&downlink_10(&keys, 0, false, &fopts), 5).unwrap();
        let tx = d.uplink(2, b"two", false).unwrap();
        // Two repetitions of the same frame (1.0: the same bytes), then no
        // more.
        for _ in 0..2 {
            let again = d.repeat().expect("a repetition");
            assert_eq!(again.phy_payload, tx.phy_payload);
            assert_eq!(again.kind, tx.kind);
        }
        assert!(d.repeat().is_none());
        assert_ne!(tx.phy_payload, first.phy_payload);
        // A downlink after an uplink ends its repetitions.
        d.uplink(2, b"three", false).unwrap();
        assert!(d.repeat().is_some());
        d.receive(&downlink_10(&keys, 1, false, &[]), 5).unwrap();
        assert!(d.repeat().is_none());
    }

    #[test]
    fn lorawan_1_1_repetitions_are_signed_for_their_channel() {
        let mut d = device(LorawanVersion::V1_1);
        let tx = d.join_request();
        let (accept, keys) = accept(&tx.phy_payload, true);
        d.receive(&accept, 5).unwrap();
        d.adr.nb_trans = 8;
        d.uplink(1, b"x", false).unwrap();
        for _ in 0..7 {
            let tx = d.repeat().unwrap();
            verify_11(&tx, &keys, 0);
        }
    }

    #[test]
    fn a_lorawan_1_1_join_accept_must_bring_a_new_join_nonce() {
        let mut d = device(LorawanVersion::V1_1);
        let tx = d.join_request();
        let (first, _) = accept_nonce(&tx.phy_payload, true, None, 7);
        d.receive(&first, 5).unwrap();
        // A rejoin answered with the same JoinNonce: a replay, refused,
        // and the session stays.
        let tx = d.join_request();
        let (same, _) = accept_nonce(&tx.phy_payload, true, None, 7);
        assert_eq!(
            d.receive(&same, 5),
            Err(DeviceError::JoinNonceNotNew {
                join_nonce: 7,
                last: 7
            })
        );
        let (newer, _) = accept_nonce(&tx.phy_payload, true, None, 8);
        assert!(matches!(d.receive(&newer, 5), Ok(Received::Joined { .. })));
        // The last JoinNonce survives a restart.
        let mut restarted = device(LorawanVersion::V1_1);
        restarted.restore(&d.state()).unwrap();
        let tx = restarted.join_request();
        let (old, _) = accept_nonce(&tx.phy_payload, true, None, 8);
        assert!(restarted.receive(&old, 5).is_err());
        // LoRaWAN 1.0 networks (no OptNeg) pick JoinNonces at random.
        let mut d = device(LorawanVersion::V1_0_3);
        for _ in 0..2 {
            let tx = d.join_request();
            let (accept, _) = accept_nonce(&tx.phy_payload, false, None, 7);
            assert!(d.receive(&accept, 5).is_ok());
        }
    }

    #[test]
    fn tx_param_setup_applies_the_dwell_times_and_1_1_answers_rejoin_param_setup() {
        let config = |version| {
            DeviceConfig::otaa(
                Eui64::from_u64(DEV_EUI),
                Eui64::from_u64(JOIN_EUI),
                NwkKey::from_be_bytes(NWK_KEY),
                AppKey::from_be_bytes(APP_KEY),
                version,
                Region::As923_1,
                Revision::Rp002_1_0_3,
            )
        };
        let mut d = Device::new(config(LorawanVersion::V1_0_3));
        let tx = d.join_request();
        let (accept, keys) = accept(&tx.phy_payload, false);
        d.receive(&accept, 5).unwrap();
        let dwell = d.channels.uplink_dwell_time();
        let fopts = mac_bytes(&[
            MacCommand::TxParamSetupReq(lorawan::mac::TxParamSetupReq {
                downlink_dwell_time: !dwell,
                uplink_dwell_time: !dwell,
                max_eirp: 5,
            }),
            MacCommand::RejoinParamSetupReq(lorawan::mac::RejoinParamSetupReq {
                max_time_n: 1,
                max_count_n: 1,
            }),
        ]);
        d.receive(&downlink_10(&keys, 0, false, &fopts), 5).unwrap();
        assert_eq!(d.channels.uplink_dwell_time(), !dwell);
        assert_eq!(d.downlink_dwell_time, !dwell);
        // A 1.0 session has no rejoin: only TxParamSetupAns.
        assert_eq!(d.answers, [MacCommand::TxParamSetupAns]);
        // DR0 under the uplink dwell time carries nothing in AS923: the
        // device refuses a payload there.
        d.channels.set_uplink_dwell_time(true);
        d.adr.data_rate = 0;
        assert!(matches!(
            d.uplink(1, &[0; 20], false),
            Err(DeviceError::PayloadTooLong { .. })
        ));
    }

    #[test]
    fn lorawan_1_1_device_uses_the_1_1_keys_and_repeats_rekey_ind() {
        let mut d = device(LorawanVersion::V1_1);
        let tx = d.join_request();
        let (accept, keys) = accept(&tx.phy_payload, true);
        d.receive(&accept, 5).unwrap();
        let tx = d.uplink(1, b"x", false).unwrap();
        let up = verify_11(&tx, &keys, 0);
        let mut out = [0u8; 16];
        let fopts = up
            .decrypt_fopts_into(&keys.nwk_s_enc_key.keyed(), 0, &mut out)
            .unwrap();
        assert_eq!(
            mac::parse(Direction::Uplink, fopts)
                .collect::<Result<Vec<_>, _>>()
                .unwrap(),
            [MacCommand::RekeyInd(RekeyInd { minor: 1 })]
        );
        // Until RekeyConf, every uplink repeats it.
        let tx = d.uplink(1, b"y", false).unwrap();
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        assert_eq!(up.fopts().len(), 2);
        // The DevNonce counts up.
        assert_eq!(d.next_dev_nonce(), 1);
    }

    #[test]
    fn cf_list_channels_keep_their_indices_and_dl_channel_moves_rx1() {
        let mut d = device(LorawanVersion::V1_0_3);
        let tx = d.join_request();
        let cf = lorawan::phy::CfList::from_frequencies([867_100_000, 0, 867_500_000, 0, 0]);
        let (accept, keys) = accept_with(&tx.phy_payload, false, cf);
        d.receive(&accept, 5).unwrap();
        assert_eq!(
            d.channels.channel(3).map(|c| c.frequency),
            Some(867_100_000)
        );
        assert_eq!(d.channels.channel(4), None);
        assert_eq!(
            d.channels.channel(5).map(|c| c.frequency),
            Some(867_500_000)
        );

        // DlChannelReq: channel 0's RX1 on 869.1 MHz; an unknown CID after
        // it stops the reading, not the frame.
        let mut fopts = mac_bytes(&[MacCommand::DlChannelReq(lorawan::mac::DlChannelReq {
            ch_index: 0,
            frequency: 869_100_000,
        })]);
        fopts.push(0x7f);
        let down = downlink_10(&keys, 0, false, &fopts);
        let Ok(Received::Data(data)) = d.receive(&down, 3) else {
            panic!("an authentic downlink refused");
        };
        assert_eq!(data.payload, b"on");
        assert_eq!(data.mac_commands.len(), 1);
        // Channel 0 is 868.1 MHz: its RX1 moved; the others' did not.
        let mut seen = (false, false);
        for _ in 0..60 {
            let tx = d.uplink(1, b"x", false).unwrap();
            if tx.frequency == 868_100_000 {
                assert_eq!(tx.rx1.frequency, 869_100_000);
                seen.0 = true;
            } else {
                assert_eq!(tx.rx1.frequency, tx.frequency);
                seen.1 = true;
            }
        }
        assert_eq!(seen, (true, true));
    }

    #[test]
    fn a_saved_state_resumes_counters_keys_and_dev_nonces() {
        let mut d = device(LorawanVersion::V1_0_3);
        let tx = d.join_request();
        let (accept, keys) = accept(&tx.phy_payload, false);
        d.receive(&accept, 5).unwrap();
        for _ in 0..3 {
            d.uplink(1, b"x", false).unwrap();
        }
        let json = serde_json::to_string(&d.state()).unwrap();
        let saved: DeviceState = serde_json::from_str(&json).unwrap();
        assert_eq!(saved, d.state());

        // A new device (the simulator restarted) resumes it.
        let mut again = device(LorawanVersion::V1_0_3);
        again.restore(&saved).unwrap();
        assert!(again.is_joined());
        assert_eq!((again.f_cnt_up(), again.next_dev_nonce()), (3, 1));
        let tx = again.uplink(1, b"y", false).unwrap();
        let Ok(Frame::Data(up)) = Frame::parse(&tx.phy_payload) else {
            panic!("not a data frame");
        };
        let nwk_s = lorawan::keys::NwkSKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes());
        up.verify_uplink_mic_10(&nwk_s.keyed(), 3).unwrap();
        assert_eq!(tx.rx1.delay, Duration::from_secs(2), "the accept's RxDelay");
        // A join after it uses the next DevNonce, never an old one.
        let mut fresh = device(LorawanVersion::V1_0_3);
        fresh
            .restore(&DeviceState {
                next_dev_nonce: 7,
                session: None,
                last_join_nonce: None,
            })
            .unwrap();
        assert_eq!(
            fresh.join_request().kind,
            TxKind::JoinRequest { dev_nonce: 7 }
        );
        // A broken state changes nothing.
        let mut broken = saved.clone();
        if let Some(s) = broken.session.as_mut() {
            s.app_s_key = "nope".into();
        }
        let mut other = device(LorawanVersion::V1_0_3);
        assert!(matches!(other.restore(&broken), Err(DeviceError::State(_))));
        assert!(!other.is_joined() && other.next_dev_nonce() == 0);
    }

    #[test]
    fn abp_device_sends_at_once_and_refuses_frames_for_others() {
        let keys: SessionKeys11 = crypto::SessionKeys10 {
            nwk_s_key: lorawan::keys::NwkSKey::from_be_bytes([3; 16]),
            app_s_key: AppSKey::from_be_bytes([4; 16]),
        }
        .into();
        let mut d = Device::new(DeviceConfig::abp(
            Eui64::from_u64(DEV_EUI),
            DevAddr::from_u32(DEV_ADDR),
            keys,
            LorawanVersion::V1_0_3,
            Region::Eu868,
            Revision::Rp002_1_0_3,
        ));
        assert!(d.is_joined());
        let tx = d.uplink(1, &[0; 242], false).unwrap();
        assert_eq!(tx.rx1.delay, Duration::from_secs(1));
        assert!(matches!(
            d.uplink(1, &[0; 243], false),
            Err(DeviceError::PayloadTooLong { max: 242, .. })
        ));
        // A downlink for another address.
        let mut other = downlink_10(&keys, 0, false, &[]);
        other[1] ^= 0xff;
        assert_eq!(d.receive(&other, 0), Err(DeviceError::NotForMe));
        // An uplink (its own) is not a downlink.
        assert_eq!(d.receive(&tx.phy_payload, 0), Err(DeviceError::NotForMe));
        // Garbage is a frame error, never a panic.
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert!(d.receive(&junk, 0).is_err());
        }
    }
}
