//! A simulated LoRaWAN class A end-device (EU868), written with the
//! `lorawan` crate only: it joins (1.0.3 and 1.1, OptNeg), sends data
//! uplinks (confirmed or not, FOpts MAC commands, 32-bit FCnt, the 1.0 and
//! 1.1 MICs), and reads downlinks as a device would — RX1 timing, MIC,
//! FCntDown, FOpts and FRMPayload decryption — applying the network's MAC
//! requests and queueing the answers for its next uplink.
//!
//! Included by path (`#[path = "support/device.rs"] mod device;`).
#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::time::Duration;

use lorawan::crypto::{self, B1Fields, SessionKeys11};
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::mac::{
    self, DevStatusAns, DlChannelAns, LinkAdrAns, LinkAdrReq, LinkCheckAns, MacCommand,
    NewChannelAns, RejoinParamSetupAns, RekeyInd, RxParamSetupAns,
};
use lorawan::modulation::Modulation;
use lorawan::phy::{
    DataFrame, DataFrameMut, DataFrameRepr, EncryptedJoinAccept, FCtrl, FrameError,
    JoinRequestRepr, JoinType, MType,
};
use lorawan::region::{self, Region, RegionParams, Revision};
use lorawan::{DevAddr, DevNonce, Direction, Eui64, FCnt, JoinNonce, Mic, NetId};
use ns_core::model::MacVersion;
use packet_forwarder::gw;

/// The RX1 delay of a join-accept (EU868 JOIN_ACCEPT_DELAY1).
pub const JOIN_ACCEPT_DELAY1: Duration = Duration::from_secs(5);

/// An uplink channel as the device knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    pub frequency: u32,
    pub min_dr: u8,
    pub max_dr: u8,
    pub enabled: bool,
}

/// How one uplink went on air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Radio {
    pub frequency: u32,
    pub dr: u8,
    /// The device's index of the channel (the TxCh of the 1.1 MIC).
    pub channel: u8,
}

/// A frame the device transmitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub phy_payload: Vec<u8>,
    /// The full FCntUp (data uplinks) or 0 (join-requests).
    pub f_cnt: u32,
    pub radio: Radio,
}

impl Sent {
    /// The LoRa `tx_info` a gateway reports for this frame.
    pub fn tx_info(&self) -> gw::UplinkTxInfo {
        let Some(Modulation::Lora {
            spreading_factor,
            bandwidth,
        }) = eu868().data_rate(self.radio.dr).map(|d| d.modulation)
        else {
            panic!("DR{} is not a LoRa data rate", self.radio.dr);
        };
        gw::UplinkTxInfo {
            frequency: self.radio.frequency,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth,
                    spreading_factor: spreading_factor.into(),
                    code_rate: gw::CodeRate::Cr45.into(),
                    ..Default::default()
                })),
            }),
        }
    }
}

/// What the device reads of a join-accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAcceptInfo {
    pub dev_addr: DevAddr,
    pub join_nonce: JoinNonce,
    pub home_net_id: NetId,
    pub opt_neg: bool,
    pub rx1_dr_offset: u8,
    pub rx2_dr: u8,
    pub rx_delay: u8,
    /// The CFList's frequencies (type 0), if any.
    pub cf_list: Option<[u32; 5]>,
}

/// A data downlink as the device reads it: decrypted, MIC checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downlink {
    pub confirmed: bool,
    pub ack: bool,
    pub f_pending: bool,
    pub adr: bool,
    /// The full FCntDown (NFCntDown or, LoRaWAN 1.1 with FPort > 0, AFCntDown).
    pub f_cnt: u32,
    pub f_port: Option<u8>,
    /// The decrypted FRMPayload of FPort > 0.
    pub data: Vec<u8>,
    /// The MAC commands of FOpts or of the FPort 0 payload.
    pub mac_commands: Vec<MacCommand>,
    /// Whether the MAC commands came in FOpts (else FPort 0).
    pub mac_in_f_opts: bool,
    pub frequency: u32,
    pub delay: Duration,
}

/// Why the device refused a downlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceError {
    NoItem,
    NotJoined,
    Frame(FrameError),
    NotForMe(DevAddr),
    Mic,
    /// A FCntDown below the one expected (a replay).
    FCntDown {
        received: u32,
        expected: u32,
    },
    /// Not in the receive window the device listens in.
    Window {
        frequency: u32,
        delay: Duration,
        expected_frequency: u32,
        expected_delay: Duration,
    },
    /// A LoRaWAN 1.1 device refuses a JoinNonce that does not increase.
    JoinNonce {
        received: u32,
        last: u32,
    },
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<FrameError> for DeviceError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

/// The keys and counters of an activated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub dev_addr: DevAddr,
    /// The session runs LoRaWAN 1.1 (1.1 device, OptNeg set or 1.1 ABP).
    pub v1_1: bool,
    pub keys: SessionKeys11,
    /// The next FCntUp to send.
    pub f_cnt_up: u32,
    /// The next NFCntDown (1.0: the FCntDown) expected.
    pub n_f_cnt_down: u32,
    /// The next AFCntDown expected (1.1).
    pub a_f_cnt_down: u32,
}

/// What one uplink is to carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Up {
    pub confirmed: bool,
    pub f_port: Option<u8>,
    pub data: Vec<u8>,
    /// MAC commands sent by the device on its own (LinkCheckReq, …), after
    /// the answers it owes.
    pub mac_commands: Vec<MacCommand>,
    /// ADRACKReq.
    pub adr_ack_req: bool,
}

impl Up {
    /// Unconfirmed data on `f_port`.
    pub fn data(f_port: u8, data: &[u8]) -> Self {
        Self {
            f_port: Some(f_port),
            data: data.to_vec(),
            ..Self::default()
        }
    }

    /// Confirmed data on `f_port`.
    pub fn confirmed(f_port: u8, data: &[u8]) -> Self {
        Self {
            confirmed: true,
            ..Self::data(f_port, data)
        }
    }
}

/// The simulated device.
#[derive(Debug, Clone)]
pub struct Device {
    pub dev_eui: Eui64,
    pub join_eui: Eui64,
    pub version: MacVersion,
    nwk_key: NwkKey,
    app_key: AppKey,
    pub session: Option<Session>,
    /// Uplink channels by the device's index: the three defaults, then
    /// those of the CFList or NewChannelReq.
    pub channels: Vec<Option<Channel>>,
    pub dr: u8,
    pub tx_power: u8,
    pub nb_trans: u8,
    pub adr: bool,
    pub rx1_delay: u8,
    pub rx1_dr_offset: u8,
    pub rx2_dr: u8,
    pub rx2_frequency: u32,
    /// The battery level DevStatusAns reports (0 external, 1–254, 255 unknown).
    pub battery: u8,
    /// The SNR margin DevStatusAns reports.
    pub margin: i8,
    /// Answers for the next uplink.
    answers: Vec<MacCommand>,
    /// Answers repeated in every uplink until a downlink is received
    /// (RXParamSetupAns, RXTimingSetupAns, DlChannelAns).
    sticky: Vec<MacCommand>,
    /// LoRaWAN 1.1 after OTAA: RekeyInd until RekeyConf.
    pub rekey_pending: bool,
    /// A confirmed downlink to acknowledge, with its FCnt.
    pub ack_pending: Option<u32>,
    /// The FCnt of the last confirmed uplink (for the ACK of the answer).
    last_confirmed_up: Option<u32>,
    /// The last join-request's DevNonce.
    dev_nonce: Option<DevNonce>,
    /// The last JoinNonce accepted (1.1 devices require it to increase).
    last_join_nonce: Option<u32>,
    /// How the last frame went on air (the receive windows follow it).
    pub last_radio: Option<Radio>,
    next_channel: usize,
    /// What the last LinkCheckAns said.
    pub link_check: Option<LinkCheckAns>,
    /// Every LinkADRReq block applied: (DataRate, TXPower, NbTrans).
    pub adr_changes: Vec<(u8, u8, u8)>,
}

/// EU868, the only region the harness runs.
pub fn eu868() -> &'static RegionParams {
    region::params(Region::Eu868, Revision::Rp002_1_0_3)
}

impl Device {
    /// An OTAA device that has not joined. For LoRaWAN 1.0.x, `nwk_key` is
    /// the specification's AppKey (the network stores it as the NwkKey).
    pub fn otaa(
        version: MacVersion,
        dev_eui: Eui64,
        join_eui: Eui64,
        nwk_key: [u8; 16],
        app_key: [u8; 16],
    ) -> Self {
        let params = eu868();
        let channels = (0..params.uplink_channel_count())
            .filter_map(|i| params.uplink_channel(i))
            .map(|c| {
                Some(Channel {
                    frequency: c.frequency,
                    min_dr: c.min_dr,
                    max_dr: c.max_dr,
                    enabled: true,
                })
            })
            .collect();
        Self {
            dev_eui,
            join_eui,
            version,
            nwk_key: NwkKey::from_be_bytes(nwk_key),
            app_key: AppKey::from_be_bytes(app_key),
            session: None,
            channels,
            dr: 0,
            tx_power: 0,
            nb_trans: 1,
            adr: true,
            rx1_delay: 1,
            rx1_dr_offset: 0,
            rx2_dr: params.rx2_dr,
            rx2_frequency: params.rx2_frequency,
            battery: 200,
            margin: 7,
            answers: Vec::new(),
            sticky: Vec::new(),
            rekey_pending: false,
            ack_pending: None,
            last_confirmed_up: None,
            dev_nonce: None,
            last_join_nonce: None,
            last_radio: None,
            next_channel: 0,
            link_check: None,
            adr_changes: Vec::new(),
        }
    }

    /// An ABP device with this DevAddr, session keys and counters.
    pub fn abp(
        version: MacVersion,
        dev_eui: Eui64,
        dev_addr: DevAddr,
        keys: SessionKeys11,
    ) -> Self {
        let mut device = Self::otaa(version, dev_eui, Eui64::from_u64(0), [0; 16], [0; 16]);
        device.session = Some(Session {
            dev_addr,
            v1_1: version.is_1_1(),
            keys,
            f_cnt_up: 0,
            n_f_cnt_down: 0,
            a_f_cnt_down: 0,
        });
        device
    }

    /// The session; panics before activation.
    pub fn session(&self) -> &Session {
        self.session.as_ref().expect("the device is activated")
    }

    /// The session, mutable (to set counters).
    pub fn session_mut(&mut self) -> &mut Session {
        self.session.as_mut().expect("the device is activated")
    }

    /// The enabled channel to transmit on next (round robin), with its index.
    fn pick_channel(&mut self, dr: u8) -> Radio {
        let n = self.channels.len();
        for k in 0..n {
            let i = (self.next_channel + k) % n;
            if let Some(c) =
                self.channels[i].filter(|c| c.enabled && (c.min_dr..=c.max_dr).contains(&dr))
            {
                self.next_channel = i + 1;
                return Radio {
                    frequency: c.frequency,
                    dr,
                    channel: u8::try_from(i).expect("channel index"),
                };
            }
        }
        panic!("no enabled channel allows DR{dr}: {:?}", self.channels);
    }

    /// Transmits on this channel next (by the device's index).
    pub fn use_channel(&mut self, index: usize) {
        self.next_channel = index;
    }

    /// A join-request with this DevNonce, at DR0 on the next default channel.
    pub fn join_request(&mut self, dev_nonce: u16) -> Sent {
        let mut buf = [0u8; 23];
        JoinRequestRepr {
            join_eui: self.join_eui,
            dev_eui: self.dev_eui,
            dev_nonce: DevNonce(dev_nonce),
        }
        .build(&self.nwk_key.keyed(), &mut buf)
        .expect("a join-request fits 23 bytes");
        self.dev_nonce = Some(DevNonce(dev_nonce));
        // Join-requests go on the default channels only.
        self.next_channel %= 3;
        let radio = self.pick_channel(0);
        self.last_radio = Some(radio);
        Sent {
            phy_payload: buf.to_vec(),
            f_cnt: 0,
            radio,
        }
    }

    /// Reads the join-accept of `frame` in RX1 (JOIN_ACCEPT_DELAY1 after the
    /// join-request, on its frequency) and activates.
    pub fn join_accept(
        &mut self,
        frame: &gw::DownlinkFrame,
    ) -> Result<JoinAcceptInfo, DeviceError> {
        let item = frame.items.first().ok_or(DeviceError::NoItem)?;
        let radio = self.last_radio.ok_or(DeviceError::NotJoined)?;
        self.check_window(item, radio.frequency, JOIN_ACCEPT_DELAY1)?;
        let dev_nonce = self.dev_nonce.ok_or(DeviceError::NotJoined)?;
        let encrypted = EncryptedJoinAccept::new_checked(&item.phy_payload)?;
        let nwk_key = self.nwk_key.keyed();
        let ja = encrypted.decrypt(&nwk_key);
        let opt_neg = ja.dl_settings().opt_neg();
        let v1_1 = self.version.is_1_1() && opt_neg;
        if v1_1 {
            let js_int_key = crypto::derive_js_int_key(&nwk_key, self.dev_eui).keyed();
            ja.verify_mic_11(&js_int_key, JoinType::JoinRequest, self.join_eui, dev_nonce)
                .map_err(|_| DeviceError::Mic)?;
        } else {
            ja.verify_mic_10(&nwk_key).map_err(|_| DeviceError::Mic)?;
        }
        let join_nonce = ja.join_nonce();
        if self.version.is_1_1()
            && let Some(last) = self.last_join_nonce.filter(|&l| join_nonce.to_u32() <= l)
        {
            return Err(DeviceError::JoinNonce {
                received: join_nonce.to_u32(),
                last,
            });
        }
        self.last_join_nonce = Some(join_nonce.to_u32());
        let keys = if v1_1 {
            crypto::derive_session_keys_11(
                &nwk_key,
                &self.app_key.keyed(),
                join_nonce,
                self.join_eui,
                dev_nonce,
            )
        } else {
            crypto::derive_session_keys_10(&nwk_key, join_nonce, ja.home_net_id(), dev_nonce).into()
        };
        let dl = ja.dl_settings();
        self.rx1_dr_offset = dl.rx1_dr_offset();
        self.rx2_dr = dl.rx2_data_rate();
        self.rx1_delay = ja.rx_delay().seconds();
        let cf_list = ja.cf_list().and_then(|c| c.frequencies());
        self.channels.truncate(3);
        if let Some(freqs) = cf_list {
            for f in freqs {
                self.channels.push((f != 0).then_some(Channel {
                    frequency: f,
                    min_dr: 0,
                    max_dr: 5,
                    enabled: true,
                }));
            }
        }
        self.session = Some(Session {
            dev_addr: ja.dev_addr(),
            v1_1,
            keys,
            f_cnt_up: 0,
            n_f_cnt_down: 0,
            a_f_cnt_down: 0,
        });
        self.rekey_pending = v1_1;
        self.answers.clear();
        self.sticky.clear();
        self.ack_pending = None;
        self.last_confirmed_up = None;
        Ok(JoinAcceptInfo {
            dev_addr: ja.dev_addr(),
            join_nonce,
            home_net_id: ja.home_net_id(),
            opt_neg,
            rx1_dr_offset: dl.rx1_dr_offset(),
            rx2_dr: dl.rx2_data_rate(),
            rx_delay: ja.rx_delay().seconds(),
            cf_list,
        })
    }

    /// The MAC commands the next uplink carries: owed answers, repeated
    /// answers, RekeyInd (1.1 after a join), then `own`.
    fn uplink_mac_commands(&mut self, own: &[MacCommand]) -> Vec<u8> {
        let mut commands = std::mem::take(&mut self.answers);
        commands.extend(self.sticky.iter().copied());
        if self.rekey_pending {
            commands.push(MacCommand::RekeyInd(RekeyInd { minor: 1 }));
        }
        commands.extend_from_slice(own);
        let mut bytes = Vec::new();
        for c in &commands {
            let mut buf = [0u8; mac::MAX_ENCODED_LEN];
            let n = c.emit(&mut buf).expect("device MAC command encodes");
            bytes.extend_from_slice(&buf[..n]);
        }
        bytes
    }

    /// The next data uplink, with the FCntUp the session holds (then
    /// incremented), at the device's data rate on its next channel.
    pub fn uplink(&mut self, up: &Up) -> Sent {
        let f_cnt = self.session().f_cnt_up;
        self.uplink_with_f_cnt(up, f_cnt)
    }

    /// A data uplink with this full FCntUp; the session's FCntUp becomes
    /// `f_cnt + 1`.
    pub fn uplink_with_f_cnt(&mut self, up: &Up, f_cnt: u32) -> Sent {
        let radio = self.pick_channel(self.dr);
        let mac_bytes = self.uplink_mac_commands(&up.mac_commands);
        let ack = self.ack_pending.take();
        let session = self.session.clone().expect("the device is activated");
        // MAC commands beyond FOpts' 15 bytes go alone on FPort 0 and the
        // application data waits (as real stacks do).
        let (fopts, f_port, payload): (&[u8], Option<u8>, &[u8]) = if mac_bytes.len() > 15 {
            (&[], Some(0), &mac_bytes)
        } else {
            (&mac_bytes, up.f_port, &up.data)
        };
        let mtype = if up.confirmed {
            MType::ConfirmedDataUp
        } else {
            MType::UnconfirmedDataUp
        };
        let repr = DataFrameRepr {
            mtype,
            dev_addr: session.dev_addr,
            fctrl: FCtrl::default()
                .with_adr(self.adr)
                .with_adr_ack_req(up.adr_ack_req)
                .with_ack(ack.is_some()),
            fcnt: f_cnt,
            fopts,
            fport: f_port,
            frm_payload: payload,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr
            .emit(Mic::default(), &mut buf)
            .expect("uplink frame builds");
        buf.truncate(n);
        let mut frame = DataFrameMut::new_checked(&mut buf).expect("uplink frame checks");
        let keys = session.keys;
        match f_port {
            None => {}
            Some(0) => frame
                .crypt_frm_payload(&keys.nwk_s_enc_key.keyed(), f_cnt)
                .expect("FPort 0 key"),
            Some(_) => frame
                .crypt_frm_payload(&keys.app_s_key.keyed(), f_cnt)
                .expect("AppSKey"),
        }
        if session.v1_1 {
            if !fopts.is_empty() {
                frame.crypt_fopts(&keys.nwk_s_enc_key.keyed(), f_cnt);
            }
            let b1 = B1Fields {
                conf_f_cnt: ack.map_or(0, |c| c as u16),
                tx_dr: radio.dr,
                tx_ch: radio.channel,
            };
            frame
                .set_uplink_mic_11(
                    &keys.f_nwk_s_int_key.keyed(),
                    &keys.s_nwk_s_int_key.keyed(),
                    b1,
                    f_cnt,
                )
                .expect("uplink MIC");
        } else {
            let nwk_s_key = NwkSKey::from_be_bytes(keys.f_nwk_s_int_key.to_be_bytes());
            frame
                .set_uplink_mic_10(&nwk_s_key.keyed(), f_cnt)
                .expect("uplink MIC");
        }
        self.session_mut().f_cnt_up = f_cnt.wrapping_add(1);
        self.last_confirmed_up = up.confirmed.then_some(f_cnt);
        self.last_radio = Some(radio);
        Sent {
            phy_payload: buf,
            f_cnt,
            radio,
        }
    }

    fn check_window(
        &self,
        item: &gw::DownlinkFrameItem,
        expected_frequency: u32,
        expected_delay: Duration,
    ) -> Result<(), DeviceError> {
        let tx = item.tx_info.as_ref().ok_or(DeviceError::NoItem)?;
        let delay = match tx.timing.as_ref().and_then(|t| t.parameters) {
            Some(gw::timing::Parameters::Delay(d)) => d
                .delay
                .map(|d| {
                    Duration::new(
                        u64::try_from(d.seconds).unwrap_or_default(),
                        u32::try_from(d.nanos).unwrap_or_default(),
                    )
                })
                .unwrap_or_default(),
            _ => Duration::ZERO,
        };
        if tx.frequency != expected_frequency || delay != expected_delay {
            return Err(DeviceError::Window {
                frequency: tx.frequency,
                delay,
                expected_frequency,
                expected_delay,
            });
        }
        Ok(())
    }

    /// Reads the RX1 alternative of a data downlink: window, DevAddr, MIC,
    /// FCntDown, then the payloads; applies its MAC commands.
    pub fn receive(&mut self, frame: &gw::DownlinkFrame) -> Result<Downlink, DeviceError> {
        let item = frame.items.first().ok_or(DeviceError::NoItem)?;
        let radio = self.last_radio.ok_or(DeviceError::NotJoined)?;
        // EU868 RX1: the uplink's frequency, RX1 delay after it.
        self.check_window(
            item,
            radio.frequency,
            Duration::from_secs(self.rx1_delay.into()),
        )?;
        self.read_data(item, Duration::from_secs(self.rx1_delay.into()))
    }

    /// Reads a class C data downlink: sent at once (`Immediately`) on the
    /// device's RX2 frequency, where a class C device listens between
    /// uplinks; then as [`Self::receive`].
    pub fn receive_class_c(&mut self, frame: &gw::DownlinkFrame) -> Result<Downlink, DeviceError> {
        let item = frame.items.first().ok_or(DeviceError::NoItem)?;
        let tx = item.tx_info.as_ref().ok_or(DeviceError::NoItem)?;
        let immediately = matches!(
            tx.timing.as_ref().and_then(|t| t.parameters),
            Some(gw::timing::Parameters::Immediately(_))
        );
        if !immediately || frame.items.len() != 1 {
            return Err(DeviceError::Window {
                frequency: tx.frequency,
                delay: Duration::MAX,
                expected_frequency: self.rx2_frequency,
                expected_delay: Duration::ZERO,
            });
        }
        self.check_window(item, self.rx2_frequency, Duration::ZERO)?;
        self.read_data(item, Duration::ZERO)
    }

    /// Reads a data downlink whose window was checked: DevAddr, MIC,
    /// FCntDown, then the payloads; applies its MAC commands.
    fn read_data(
        &mut self,
        item: &gw::DownlinkFrameItem,
        delay: Duration,
    ) -> Result<Downlink, DeviceError> {
        let tx = item.tx_info.as_ref().ok_or(DeviceError::NoItem)?;
        let session = self.session.clone().ok_or(DeviceError::NotJoined)?;
        let view = DataFrame::new_checked(&item.phy_payload)?;
        if view.direction() != Direction::Downlink {
            return Err(DeviceError::Frame(FrameError::InvalidField {
                field: "MType",
                value: view.mhdr().mtype().bits().into(),
                reason: "not a downlink",
            }));
        }
        if view.dev_addr() != session.dev_addr {
            return Err(DeviceError::NotForMe(view.dev_addr()));
        }
        let application = session.v1_1 && view.fport().is_some_and(|p| p > 0);
        let expected = if application {
            session.a_f_cnt_down
        } else {
            session.n_f_cnt_down
        };
        let f_cnt = FCnt::reconstruct(expected, view.fcnt());
        let keys = session.keys;
        if session.v1_1 {
            let conf_f_cnt = if view.fctrl().ack() {
                self.last_confirmed_up.map_or(0, |c| c as u16)
            } else {
                0
            };
            view.verify_downlink_mic_11(&keys.s_nwk_s_int_key.keyed(), conf_f_cnt, f_cnt)
                .map_err(|_| DeviceError::Mic)?;
        } else {
            let nwk_s_key = NwkSKey::from_be_bytes(keys.s_nwk_s_int_key.to_be_bytes());
            view.verify_downlink_mic_10(&nwk_s_key.keyed(), f_cnt)
                .map_err(|_| DeviceError::Mic)?;
        }
        if f_cnt < expected {
            return Err(DeviceError::FCntDown {
                received: f_cnt,
                expected,
            });
        }
        {
            let s = self.session_mut();
            if application {
                s.a_f_cnt_down = f_cnt + 1;
            } else {
                s.n_f_cnt_down = f_cnt + 1;
            }
        }
        let mut fopts_buf = [0u8; 16];
        let fopts = if session.v1_1 && !view.fopts().is_empty() {
            view.decrypt_fopts_into(&keys.nwk_s_enc_key.keyed(), f_cnt, &mut fopts_buf)?
                .to_vec()
        } else {
            view.fopts().to_vec()
        };
        let mut payload_buf = [0u8; 256];
        let (data, mac_bytes, mac_in_f_opts) = match view.fport() {
            None => (Vec::new(), fopts, true),
            Some(0) => {
                let p = view.decrypt_frm_payload_into(
                    &keys.nwk_s_enc_key.keyed(),
                    f_cnt,
                    &mut payload_buf,
                )?;
                (Vec::new(), p.to_vec(), false)
            }
            Some(_) => {
                let p = view.decrypt_frm_payload_into(
                    &keys.app_s_key.keyed(),
                    f_cnt,
                    &mut payload_buf,
                )?;
                (p.to_vec(), fopts, true)
            }
        };
        let mac_commands: Vec<MacCommand> = mac::parse(Direction::Downlink, &mac_bytes)
            .collect::<Result<_, _>>()
            .map_err(|_| {
                DeviceError::Frame(FrameError::InvalidField {
                    field: "FOpts",
                    value: 0,
                    reason: "unreadable downlink MAC commands",
                })
            })?;
        let confirmed = view.is_confirmed();
        if confirmed {
            self.ack_pending = Some(f_cnt);
        }
        // Any downlink ends the repetition of RX setup answers.
        self.sticky.clear();
        self.apply_mac_commands(&mac_commands);
        Ok(Downlink {
            confirmed,
            ack: view.fctrl().ack(),
            f_pending: view.fctrl().f_pending(),
            adr: view.fctrl().adr(),
            f_cnt,
            f_port: view.fport(),
            data,
            mac_commands,
            mac_in_f_opts,
            frequency: tx.frequency,
            delay,
        })
    }

    /// Applies the network's requests as a LoRaWAN 1.0.3/1.1 EU868 device
    /// would, queueing the answers.
    fn apply_mac_commands(&mut self, commands: &[MacCommand]) {
        let mut i = 0;
        while i < commands.len() {
            match commands[i] {
                MacCommand::LinkAdrReq(_) => {
                    // A block: the contiguous LinkADRReq.
                    let block: Vec<LinkAdrReq> = commands[i..]
                        .iter()
                        .map_while(|c| match c {
                            MacCommand::LinkAdrReq(r) => Some(*r),
                            _ => None,
                        })
                        .collect();
                    i += block.len();
                    let ans = self.link_adr(&block);
                    self.answers.extend(std::iter::repeat_n(
                        MacCommand::LinkAdrAns(ans),
                        block.len(),
                    ));
                    continue;
                }
                MacCommand::DevStatusReq => {
                    self.answers.push(MacCommand::DevStatusAns(DevStatusAns {
                        battery: self.battery,
                        margin: self.margin,
                    }));
                }
                MacCommand::NewChannelReq(req) => {
                    let index = usize::from(req.ch_index);
                    let frequency_ok = (3..16).contains(&index)
                        && (req.frequency == 0
                            || (863_000_000..=870_000_000).contains(&req.frequency));
                    let dr_ok = req.min_dr <= req.max_dr && req.max_dr <= 7;
                    if frequency_ok && dr_ok {
                        if self.channels.len() <= index {
                            self.channels.resize(index + 1, None);
                        }
                        self.channels[index] = (req.frequency != 0).then_some(Channel {
                            frequency: req.frequency,
                            min_dr: req.min_dr,
                            max_dr: req.max_dr,
                            enabled: true,
                        });
                    }
                    self.answers.push(MacCommand::NewChannelAns(NewChannelAns {
                        data_rate_range_ok: dr_ok,
                        channel_frequency_ok: frequency_ok,
                    }));
                }
                MacCommand::RxParamSetupReq(req) => {
                    let dr_ok = eu868()
                        .data_rate(req.rx2_data_rate)
                        .is_some_and(|d| d.downlink);
                    let offset_ok = req.rx1_dr_offset <= 5;
                    let channel_ok = (863_000_000..=870_000_000).contains(&req.frequency);
                    if dr_ok && offset_ok && channel_ok {
                        self.rx1_dr_offset = req.rx1_dr_offset;
                        self.rx2_dr = req.rx2_data_rate;
                        self.rx2_frequency = req.frequency;
                    }
                    self.sticky
                        .push(MacCommand::RxParamSetupAns(RxParamSetupAns {
                            rx1_dr_offset_ack: offset_ok,
                            rx2_data_rate_ack: dr_ok,
                            channel_ack: channel_ok,
                        }));
                }
                MacCommand::RxTimingSetupReq(req) => {
                    self.rx1_delay = req.delay.max(1);
                    self.sticky.push(MacCommand::RxTimingSetupAns);
                }
                MacCommand::DlChannelReq(_) => {
                    self.sticky.push(MacCommand::DlChannelAns(DlChannelAns {
                        uplink_frequency_exists: true,
                        channel_frequency_ok: true,
                    }));
                }
                MacCommand::DutyCycleReq(_) => self.answers.push(MacCommand::DutyCycleAns),
                MacCommand::AdrParamSetupReq(_) => self.answers.push(MacCommand::AdrParamSetupAns),
                MacCommand::RejoinParamSetupReq(_) => {
                    self.answers
                        .push(MacCommand::RejoinParamSetupAns(RejoinParamSetupAns {
                            time_ok: true,
                        }))
                }
                MacCommand::LinkCheckAns(ans) => self.link_check = Some(ans),
                MacCommand::RekeyConf(_) => self.rekey_pending = false,
                // EU868 devices do not implement TXParamSetupReq: no answer.
                _ => {}
            }
            i += 1;
        }
    }

    /// LinkADRReq block: channel mask (ChMaskCntl 0 and 6), then DataRate,
    /// TXPower and NbTrans of the last command; all or nothing.
    fn link_adr(&mut self, block: &[LinkAdrReq]) -> LinkAdrAns {
        let mut enabled: Vec<bool> = self
            .channels
            .iter()
            .map(|c| c.is_some_and(|c| c.enabled))
            .collect();
        let mut mask_ok = true;
        for req in block {
            match req.ch_mask_cntl {
                0 => {
                    for ch in 0..16u8 {
                        let on = req.ch_mask.is_enabled(ch);
                        let i = usize::from(ch);
                        match self.channels.get(i) {
                            Some(Some(_)) => enabled[i] = on,
                            // Enabling an undefined channel is refused.
                            _ if on => mask_ok = false,
                            _ => {}
                        }
                    }
                }
                6 => {
                    for (i, c) in self.channels.iter().enumerate() {
                        enabled[i] = c.is_some();
                    }
                }
                _ => mask_ok = false,
            }
        }
        if !enabled.iter().any(|&e| e) {
            mask_ok = false;
        }
        let last = block.last().expect("a block has a command");
        let dr = if last.data_rate == 15 {
            self.dr
        } else {
            last.data_rate
        };
        let dr_ok = eu868().data_rate(dr).is_some_and(|d| d.uplink)
            && self
                .channels
                .iter()
                .zip(&enabled)
                .any(|(c, &on)| on && c.is_some_and(|c| (c.min_dr..=c.max_dr).contains(&dr)));
        let power = if last.tx_power == 15 {
            self.tx_power
        } else {
            last.tx_power
        };
        let power_ok = power <= 7;
        if mask_ok && dr_ok && power_ok {
            for (c, on) in self.channels.iter_mut().zip(enabled) {
                if let Some(c) = c {
                    c.enabled = on;
                }
            }
            self.dr = dr;
            self.tx_power = power;
            if last.nb_trans != 0 {
                self.nb_trans = last.nb_trans;
            }
            self.adr_changes
                .push((self.dr, self.tx_power, self.nb_trans));
        }
        LinkAdrAns {
            power_ack: power_ok,
            data_rate_ack: dr_ok,
            channel_mask_ack: mask_ok,
        }
    }

    /// Answers still owed (for assertions).
    pub fn owed_answers(&self) -> Vec<MacCommand> {
        let mut all = self.answers.clone();
        all.extend(self.sticky.iter().copied());
        all
    }
}

/// 1.0 session keys in their 1.1 roles, from the NwkSKey and AppSKey bytes.
pub fn keys_10(nwk_s_key: [u8; 16], app_s_key: [u8; 16]) -> SessionKeys11 {
    SessionKeys11 {
        f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(nwk_s_key),
        s_nwk_s_int_key: SNwkSIntKey::from_be_bytes(nwk_s_key),
        nwk_s_enc_key: NwkSEncKey::from_be_bytes(nwk_s_key),
        app_s_key: AppSKey::from_be_bytes(app_s_key),
    }
}
