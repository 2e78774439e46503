//! Differential tests of `lorawan::crypto` against two independent
//! implementations: ChirpStack's `lrwn` 4.13 (every MIC, FRMPayload and FOpts
//! encryption, join-accept encryption, key derivation 1.0 and 1.1) and lora-rs
//! `lorawan` 0.9 (`lorars`: 1.0 data MIC and encryption, join-request MIC,
//! join-accept decryption and MIC, 1.0 key derivation). Random keys, addresses,
//! counters and payloads; frames are built as bytes and handed to each library.

use lorawan::crypto::{self, B1Fields, FOptsCounter};
use lorawan::keys::{
    AesKey, AppKey, AppSKey, FNwkSIntKey, JSEncKey, JSIntKey, NwkKey, NwkSEncKey, NwkSKey,
    SNwkSIntKey,
};
use lorawan::phy::JoinType;
use lorawan::{DevAddr, DevNonce, Direction, Eui64, JoinNonce, NetId};
use proptest::prelude::*;

fn lrwn_key(bytes: [u8; 16]) -> lrwn::AES128Key {
    lrwn::AES128Key::from_bytes(bytes)
}

fn keyed<K: AesKey>(bytes: [u8; 16]) -> crypto::Keyed<K> {
    crypto::Keyed::new(&K::from_bytes(bytes))
}

/// A data frame's fields, enough to write its bytes.
#[derive(Debug, Clone)]
struct Data {
    confirmed: bool,
    dev_addr: u32,
    /// FCtrl without FOptsLen.
    f_ctrl: u8,
    /// The full 32-bit counter; the frame carries its low 16 bits.
    f_cnt: u32,
    f_opts: Vec<u8>,
    port: Option<(u8, Vec<u8>)>,
}

impl Data {
    fn mhdr(&self, dir: Direction) -> u8 {
        match (dir, self.confirmed) {
            (Direction::Uplink, false) => 0x40,
            (Direction::Downlink, false) => 0x60,
            (Direction::Uplink, true) => 0x80,
            (Direction::Downlink, true) => 0xa0,
        }
    }

    fn ack(&self) -> bool {
        self.f_ctrl & 0x20 != 0
    }

    /// MHDR .. end of FRMPayload.
    fn msg(&self, dir: Direction) -> Vec<u8> {
        let mut b = vec![self.mhdr(dir)];
        b.extend_from_slice(&self.dev_addr.to_le_bytes());
        b.push(self.f_ctrl | self.f_opts.len() as u8);
        b.extend_from_slice(&(self.f_cnt as u16).to_le_bytes());
        b.extend_from_slice(&self.f_opts);
        if let Some((port, payload)) = &self.port {
            b.push(*port);
            b.extend_from_slice(payload);
        }
        b
    }

    fn frame(&self, dir: Direction, mic: [u8; 4]) -> Vec<u8> {
        let mut b = self.msg(dir);
        b.extend_from_slice(&mic);
        b
    }

    /// lrwn's view of the frame, with the full counter set as lrwn requires.
    fn lrwn(&self, dir: Direction) -> lrwn::PhyPayload {
        let mut phy = lrwn::PhyPayload::from_slice(&self.frame(dir, [0; 4])).unwrap();
        let lrwn::Payload::MACPayload(pl) = &mut phy.payload else {
            panic!("not a data frame")
        };
        pl.fhdr.f_cnt = self.f_cnt;
        // lrwn writes back exactly the bytes we MIC.
        let mut back = phy.to_vec().unwrap();
        back.truncate(back.len() - 4);
        assert_eq!(back, self.msg(dir));
        phy
    }
}

fn data() -> impl Strategy<Value = Data> {
    (
        any::<bool>(),
        any::<u32>(),
        // ADR, ADRACKReq, ACK, FPending/ClassB; FOptsLen comes from FOpts.
        (0u8..16).prop_map(|bits| bits << 4),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..=15),
        prop::option::of((any::<u8>(), prop::collection::vec(any::<u8>(), 1..=222))),
    )
        .prop_map(|(confirmed, dev_addr, f_ctrl, f_cnt, f_opts, port)| Data {
            confirmed,
            dev_addr,
            f_ctrl,
            f_cnt,
            f_opts,
            port,
        })
}

fn mic_of(mic: lrwn::PhyPayload) -> [u8; 4] {
    mic.mic.unwrap()
}

proptest! {
    #[test]
    fn data_uplink_mic_10_equals_lrwn(key: [u8; 16], d in data()) {
        let mut phy = d.lrwn(Direction::Uplink);
        let k = lrwn_key(key);
        phy.set_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, &k, &k).unwrap();
        let ours = crypto::data_uplink_mic_10(
            &keyed::<NwkSKey>(key),
            DevAddr::from_u32(d.dev_addr),
            d.f_cnt,
            &d.msg(Direction::Uplink),
        );
        prop_assert_eq!(ours.0, mic_of(phy));
    }

    #[test]
    fn data_uplink_mic_11_and_cmac_f_equal_lrwn(
        f_key: [u8; 16],
        s_key: [u8; 16],
        conf_f_cnt: u32,
        tx_dr: u8,
        tx_ch: u8,
        d in data(),
    ) {
        let mut phy = d.lrwn(Direction::Uplink);
        phy.set_uplink_data_mic(
            lrwn::MACVersion::LoRaWAN1_1,
            conf_f_cnt,
            tx_dr,
            tx_ch,
            &lrwn_key(f_key),
            &lrwn_key(s_key),
        )
        .unwrap();
        let b1 = B1Fields {
            conf_f_cnt: if d.ack() { conf_f_cnt as u16 } else { 0 },
            tx_dr,
            tx_ch,
        };
        let msg = d.msg(Direction::Uplink);
        let dev_addr = DevAddr::from_u32(d.dev_addr);
        let f = keyed::<FNwkSIntKey>(f_key);
        let ours = crypto::data_uplink_mic_11(&f, &keyed::<SNwkSIntKey>(s_key), b1, dev_addr, d.f_cnt, &msg);
        let cmac_f = crypto::data_uplink_cmac_f(&f, dev_addr, d.f_cnt, &msg);
        prop_assert!(phy.validate_uplink_data_micf(&lrwn_key(f_key)).unwrap());
        let theirs = mic_of(phy);
        prop_assert_eq!(ours.0, theirs);
        prop_assert_eq!(cmac_f, [theirs[2], theirs[3]]);
    }

    #[test]
    fn data_downlink_mics_equal_lrwn(key: [u8; 16], conf_f_cnt: u32, d in data()) {
        let msg = d.msg(Direction::Downlink);
        let dev_addr = DevAddr::from_u32(d.dev_addr);

        let mut phy = d.lrwn(Direction::Downlink);
        phy.set_downlink_data_mic(lrwn::MACVersion::LoRaWAN1_0, conf_f_cnt, &lrwn_key(key)).unwrap();
        let ours = crypto::data_downlink_mic_10(&keyed::<NwkSKey>(key), dev_addr, d.f_cnt, &msg);
        prop_assert_eq!(ours.0, mic_of(phy));

        let mut phy = d.lrwn(Direction::Downlink);
        phy.set_downlink_data_mic(lrwn::MACVersion::LoRaWAN1_1, conf_f_cnt, &lrwn_key(key)).unwrap();
        let conf = if d.ack() { conf_f_cnt as u16 } else { 0 };
        let ours = crypto::data_downlink_mic_11(&keyed::<SNwkSIntKey>(key), conf, dev_addr, d.f_cnt, &msg);
        prop_assert_eq!(ours.0, mic_of(phy));
    }

    #[test]
    fn frm_payload_encryption_equals_lrwn(
        key: [u8; 16],
        uplink: bool,
        dev_addr: u32,
        f_cnt: u32,
        payload in prop::collection::vec(any::<u8>(), 0..=250),
    ) {
        let dir = if uplink { Direction::Uplink } else { Direction::Downlink };
        let addr = DevAddr::from_u32(dev_addr);
        let theirs = lrwn::encrypt_frm_payload(
            &lrwn_key(key),
            uplink,
            &lrwn::DevAddr::from_be_bytes(addr.to_be_bytes()),
            f_cnt,
            &payload,
        )
        .unwrap();
        // The same keystream for each role that may encrypt an FRMPayload.
        let mut app = payload.clone();
        crypto::encrypt_frm_payload(&keyed::<AppSKey>(key), dir, addr, f_cnt, &mut app);
        prop_assert_eq!(&app, &theirs);
        let mut nwk = payload.clone();
        crypto::encrypt_frm_payload(&keyed::<NwkSKey>(key), dir, addr, f_cnt, &mut nwk);
        prop_assert_eq!(&nwk, &theirs);
        let mut enc = payload.clone();
        crypto::encrypt_frm_payload(&keyed::<NwkSEncKey>(key), dir, addr, f_cnt, &mut enc);
        prop_assert_eq!(&enc, &theirs);
        crypto::decrypt_frm_payload(&keyed::<AppSKey>(key), dir, addr, f_cnt, &mut app);
        prop_assert_eq!(app, payload);
    }

    #[test]
    fn f_opts_encryption_equals_lrwn(
        key: [u8; 16],
        counter in prop_oneof![
            Just(FOptsCounter::FCntUp),
            Just(FOptsCounter::NFCntDown),
            Just(FOptsCounter::AFCntDown),
        ],
        dev_addr: u32,
        f_cnt: u32,
        f_opts in prop::collection::vec(any::<u8>(), 0..=15),
    ) {
        let addr = DevAddr::from_u32(dev_addr);
        let theirs = lrwn::encrypt_f_opts(
            &lrwn_key(key),
            counter == FOptsCounter::AFCntDown,
            counter == FOptsCounter::FCntUp,
            &lrwn::DevAddr::from_be_bytes(addr.to_be_bytes()),
            f_cnt,
            &f_opts,
        )
        .unwrap();
        let mut ours = f_opts.clone();
        crypto::encrypt_f_opts(&keyed::<NwkSEncKey>(key), counter, addr, f_cnt, &mut ours).unwrap();
        prop_assert_eq!(&ours, &theirs);
        crypto::decrypt_f_opts(&keyed::<NwkSEncKey>(key), counter, addr, f_cnt, &mut ours).unwrap();
        prop_assert_eq!(ours, f_opts);
    }

    #[test]
    fn join_request_and_rejoin_mics_equal_lrwn(
        key: [u8; 16],
        join_eui: u64,
        dev_eui: u64,
        nonce: u16,
        net_id in 0u32..0x100_0000,
        rejoin_type in 0u8..3,
    ) {
        let k = lrwn_key(key);
        let mut phy = lrwn::PhyPayload {
            mhdr: lrwn::MHDR { f_type: lrwn::FType::JoinRequest, major: lrwn::Major::LoRaWANR1 },
            payload: lrwn::Payload::JoinRequest(lrwn::JoinRequestPayload {
                join_eui: lrwn::EUI64::from_be_bytes(join_eui.to_be_bytes()),
                dev_eui: lrwn::EUI64::from_be_bytes(dev_eui.to_be_bytes()),
                dev_nonce: nonce,
            }),
            mic: None,
        };
        phy.set_join_request_mic(&k).unwrap();
        let bytes = phy.to_vec().unwrap();
        prop_assert_eq!(&crypto::join_request_mic(&keyed::<NwkKey>(key), &bytes[..19]).0, &bytes[19..]);
        prop_assert_eq!(&crypto::join_request_mic(&keyed::<AppKey>(key), &bytes[..19]).0, &bytes[19..]);

        let payload = if rejoin_type == 1 {
            lrwn::Payload::RejoinRequestType1(lrwn::RejoinRequestType1Payload {
                rejoin_type: lrwn::JoinType::RejoinType1,
                join_eui: lrwn::EUI64::from_be_bytes(join_eui.to_be_bytes()),
                dev_eui: lrwn::EUI64::from_be_bytes(dev_eui.to_be_bytes()),
                rj_count_1: nonce,
            })
        } else {
            lrwn::Payload::RejoinRequestType02(lrwn::RejoinRequestType02Payload {
                rejoin_type: if rejoin_type == 0 {
                    lrwn::JoinType::RejoinType0
                } else {
                    lrwn::JoinType::RejoinType2
                },
                netid: lrwn::NetID::from_be_bytes(NetId::from_u32(net_id).unwrap().to_be_bytes()),
                dev_eui: lrwn::EUI64::from_be_bytes(dev_eui.to_be_bytes()),
                rj_count_0: nonce,
            })
        };
        let mut phy = lrwn::PhyPayload {
            mhdr: lrwn::MHDR { f_type: lrwn::FType::RejoinRequest, major: lrwn::Major::LoRaWANR1 },
            payload,
            mic: None,
        };
        phy.set_join_request_mic(&k).unwrap();
        let bytes = phy.to_vec().unwrap();
        let (msg, mic) = bytes.split_at(bytes.len() - 4);
        let ours = if rejoin_type == 1 {
            crypto::rejoin_request_mic(&keyed::<JSIntKey>(key), msg)
        } else {
            crypto::rejoin_request_mic(&keyed::<SNwkSIntKey>(key), msg)
        };
        prop_assert_eq!(ours.0, mic);
    }

    #[test]
    fn join_accept_mic_and_encryption_equal_lrwn(
        key: [u8; 16],
        join_nonce in 0u32..0x100_0000,
        net_id in 0u32..0x100_0000,
        dev_addr: u32,
        opt_neg: bool,
        rx2_dr in 0u8..16,
        rx1_dr_offset in 0u8..8,
        rx_delay in 0u8..16,
        cflist in prop::option::of(prop::array::uniform5(0u32..0x100_0000)),
        join_type in 0u8..4,
        join_eui: u64,
        dev_nonce: u16,
    ) {
        let k = lrwn_key(key);
        let lrwn_join_type = match join_type {
            0 => lrwn::JoinType::Join,
            1 => lrwn::JoinType::RejoinType0,
            2 => lrwn::JoinType::RejoinType1,
            _ => lrwn::JoinType::RejoinType2,
        };
        let join_req_type = [JoinType::JoinRequest, JoinType::RejoinType0, JoinType::RejoinType1, JoinType::RejoinType2][join_type as usize];
        let eui = Eui64::from_u64(join_eui);
        let mut phy = lrwn::PhyPayload {
            mhdr: lrwn::MHDR { f_type: lrwn::FType::JoinAccept, major: lrwn::Major::LoRaWANR1 },
            payload: lrwn::Payload::JoinAccept(lrwn::JoinAcceptPayload {
                join_nonce,
                home_netid: lrwn::NetID::from_be_bytes(NetId::from_u32(net_id).unwrap().to_be_bytes()),
                devaddr: lrwn::DevAddr::from_be_bytes(dev_addr.to_be_bytes()),
                dl_settings: lrwn::DLSettings { opt_neg, rx2_dr, rx1_dr_offset },
                rx_delay,
                cflist: cflist.map(|f| lrwn::CFList::Channels(lrwn::CFListChannels::new(f.map(|c| c * 100)))),
            }),
            mic: None,
        };
        let lrwn_eui = lrwn::EUI64::from_be_bytes(eui.to_be_bytes());
        phy.set_join_accept_mic(lrwn_join_type, &lrwn_eui, dev_nonce, &k).unwrap();
        let plain = phy.to_vec().unwrap();
        let (msg, mic) = plain.split_at(plain.len() - 4);
        let ours = if opt_neg {
            crypto::join_accept_mic_11(&keyed::<JSIntKey>(key), join_req_type, eui, DevNonce(dev_nonce), msg)
        } else {
            crypto::join_accept_mic_10(&keyed::<NwkKey>(key), msg)
        };
        prop_assert_eq!(ours.0, mic);

        phy.encrypt_join_accept_payload(&k).unwrap();
        let wire = phy.to_vec().unwrap();
        let mut ours = plain.clone();
        crypto::encrypt_join_accept(&keyed::<NwkKey>(key), &mut ours[1..]).unwrap();
        prop_assert_eq!(&ours, &wire);
        // The rejoin answer's key encrypts the same way.
        let mut js = plain.clone();
        crypto::encrypt_join_accept(&keyed::<JSEncKey>(key), &mut js[1..]).unwrap();
        prop_assert_eq!(&js, &wire);
        crypto::decrypt_join_accept(&keyed::<AppKey>(key), &mut ours[1..]).unwrap();
        prop_assert_eq!(ours, plain);
    }

    #[test]
    fn key_derivation_equals_lrwn(
        nwk_key: [u8; 16],
        app_key: [u8; 16],
        join_nonce in 0u32..0x100_0000,
        net_id in 0u32..0x100_0000,
        join_eui: u64,
        dev_eui: u64,
        dev_nonce: u16,
    ) {
        let (nk, ak) = (lrwn_key(nwk_key), lrwn_key(app_key));
        let net = NetId::from_u32(net_id).unwrap();
        let lrwn_net = lrwn::NetID::from_be_bytes(net.to_be_bytes());
        let lrwn_join_eui = lrwn::EUI64::from_be_bytes(join_eui.to_be_bytes());
        let lrwn_dev_eui = lrwn::EUI64::from_be_bytes(dev_eui.to_be_bytes());
        let jn = JoinNonce::from_u32(join_nonce).unwrap();
        let dn = DevNonce(dev_nonce);
        let nwk = keyed::<NwkKey>(nwk_key);
        let app = keyed::<AppKey>(app_key);
        use lrwn::keys::*;

        // 1.0, or 1.1 without OptNeg: from the NwkKey (or AppKey) alone.
        let ten = crypto::derive_session_keys_10(&nwk, jn, net, dn);
        let args = (&lrwn_net, &lrwn_join_eui, join_nonce, dev_nonce);
        prop_assert_eq!(
            ten.nwk_s_key.to_be_bytes(),
            get_f_nwk_s_int_key(false, &nk, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );
        prop_assert_eq!(
            ten.app_s_key.to_be_bytes(),
            get_app_s_key(false, &nk, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );
        let ten_app = crypto::derive_session_keys_10(&keyed::<AppKey>(nwk_key), jn, net, dn);
        prop_assert_eq!(ten_app.nwk_s_key, ten.nwk_s_key);

        // 1.1 with OptNeg.
        let eleven = crypto::derive_session_keys_11(&nwk, &app, jn, Eui64::from_u64(join_eui), dn);
        prop_assert_eq!(
            eleven.f_nwk_s_int_key.to_be_bytes(),
            get_f_nwk_s_int_key(true, &nk, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );
        prop_assert_eq!(
            eleven.s_nwk_s_int_key.to_be_bytes(),
            get_s_nwk_s_int_key(true, &nk, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );
        prop_assert_eq!(
            eleven.nwk_s_enc_key.to_be_bytes(),
            get_nwk_s_enc_key(true, &nk, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );
        prop_assert_eq!(
            eleven.app_s_key.to_be_bytes(),
            get_app_s_key(true, &ak, args.0, args.1, args.2, args.3).unwrap().to_bytes()
        );

        let dev = Eui64::from_u64(dev_eui);
        prop_assert_eq!(
            crypto::derive_js_int_key(&nwk, dev).to_be_bytes(),
            get_js_int_key(&lrwn_dev_eui, &nk).unwrap().to_bytes()
        );
        prop_assert_eq!(
            crypto::derive_js_enc_key(&nwk, dev).to_be_bytes(),
            get_js_enc_key(&lrwn_dev_eui, &nk).unwrap().to_bytes()
        );
    }

    #[test]
    fn data_mic_and_frm_payload_10_agree_with_lora_rs(
        nwk_key: [u8; 16],
        app_key: [u8; 16],
        uplink: bool,
        d in data(),
    ) {
        let dir = if uplink { Direction::Uplink } else { Direction::Downlink };
        let dev_addr = DevAddr::from_u32(d.dev_addr);
        let nwk = keyed::<NwkSKey>(nwk_key);
        let mut msg = d.msg(dir);
        // Encrypt the FRMPayload as a sender would, then MIC.
        if let Some((port, payload)) = &d.port {
            let start = msg.len() - payload.len();
            let body = &mut msg[start..];
            if *port == 0 {
                crypto::encrypt_frm_payload(&nwk, dir, dev_addr, d.f_cnt, body);
            } else {
                crypto::encrypt_frm_payload(&keyed::<AppSKey>(app_key), dir, dev_addr, d.f_cnt, body);
            }
        }
        let mic = if uplink {
            crypto::data_uplink_mic_10(&nwk, dev_addr, d.f_cnt, &msg)
        } else {
            crypto::data_downlink_mic_10(&nwk, dev_addr, d.f_cnt, &msg)
        };
        let mut frame = msg.clone();
        frame.extend_from_slice(&mic.0);

        let parsed = lorars::parser::EncryptedDataPayload::new(frame.clone()).unwrap();
        let (nk, ak) = (lorars::keys::AES128(nwk_key), lorars::keys::AES128(app_key));
        prop_assert!(parsed.validate_mic(&nk, d.f_cnt));
        let decrypted = parsed.decrypt(Some(&nk), Some(&ak), d.f_cnt).unwrap().to_inner();
        prop_assert_eq!(&decrypted[..msg.len()], &d.msg(dir)[..]);
    }

    #[test]
    fn join_request_mic_agrees_with_lora_rs(key: [u8; 16], body: [u8; 18]) {
        let mut frame = vec![0x00];
        frame.extend_from_slice(&body);
        let mic = crypto::join_request_mic(&keyed::<AppKey>(key), &frame);
        frame.extend_from_slice(&mic.0);
        let parsed = lorars::parser::JoinRequestPayload::new(frame).unwrap();
        prop_assert!(parsed.validate_mic(&lorars::keys::AES128(key)));
    }

    #[test]
    fn join_accept_and_key_derivation_10_agree_with_lora_rs(
        key: [u8; 16],
        body: [u8; 12],
        cflist: Option<[u8; 16]>,
        dev_nonce: [u8; 2],
    ) {
        let app_key = keyed::<AppKey>(key);
        let mut frame = vec![0x20];
        frame.extend_from_slice(&body);
        if let Some(cflist) = cflist {
            frame.extend_from_slice(&cflist);
        }
        let mic = crypto::join_accept_mic_10(&app_key, &frame);
        frame.extend_from_slice(&mic.0);
        let plain = frame.clone();
        crypto::encrypt_join_accept(&app_key, &mut frame[1..]).unwrap();

        // lora-rs decrypts our encryption and checks our MIC.
        let ja = lorars::parser::DecryptedJoinAcceptPayload::new(frame, &lorars::keys::AppKey::from(key));
        let ja = ja.unwrap();
        use lorars::parser::AsPhyPayloadBytes;
        prop_assert_eq!(ja.as_bytes(), &plain[..]);

        let nonce = lorars::parser::DevNonce::new(&dev_nonce[..]).unwrap();
        let lorars_key = lorars::keys::AppKey::from(key);
        let ours = crypto::derive_session_keys_10(
            &app_key,
            JoinNonce::from_le_bytes([body[0], body[1], body[2]]),
            NetId::from_le_bytes([body[3], body[4], body[5]]),
            DevNonce::from_le_bytes(dev_nonce),
        );
        prop_assert_eq!(ours.nwk_s_key.to_be_bytes(), ja.derive_newskey(&nonce, &lorars_key).inner().0);
        prop_assert_eq!(ours.app_s_key.to_be_bytes(), ja.derive_appskey(&nonce, &lorars_key).inner().0);
    }
}

#[test]
fn over_long_f_opts_are_refused_like_lrwn() {
    let addr = DevAddr::from_u32(1);
    let mut f_opts = [0u8; 16];
    let ours = crypto::encrypt_f_opts(
        &keyed::<NwkSEncKey>([0; 16]),
        FOptsCounter::FCntUp,
        addr,
        0,
        &mut f_opts,
    );
    assert!(ours.is_err());
    let theirs = lrwn::encrypt_f_opts(
        &lrwn_key([0; 16]),
        false,
        true,
        &lrwn::DevAddr::from_be_bytes([0, 0, 0, 1]),
        0,
        &f_opts,
    );
    assert!(theirs.is_err());
}
