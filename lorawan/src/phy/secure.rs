//! The frame views meet the keys: MIC checking and setting, payload decryption
//! and encryption in place, join-accept encryption. Everything here works on the
//! caller's buffers and never allocates.

use super::data::{DataFrame, DataFrameMut};
use super::join::{
    EncryptedJoinAccept, JoinAccept, JoinAcceptRepr, JoinRequest, JoinRequestRepr, JoinType,
    RejoinRequest, RejoinRequestRepr,
};
use super::{FrameError, check_mic, out_buf};
use crate::crypto::{self, B1Fields, FOptsCounter, JoinAcceptKey, Keyed, PayloadKey, RootKey};
use crate::keys::{AesKey, AppSKey, FNwkSIntKey, JSIntKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use crate::{DevNonce, Direction, Eui64, Mic};

impl JoinRequest<'_> {
    /// Checks the MIC with the AppKey (LoRaWAN 1.0) or NwkKey (1.1).
    pub fn verify_mic<K: RootKey>(&self, key: &Keyed<K>) -> Result<(), FrameError> {
        check_mic(self.mic(), crypto::join_request_mic(key, self.mic_input()))
    }
}

impl JoinRequestRepr {
    /// Writes the join-request signed with the AppKey (1.0) or NwkKey (1.1).
    pub fn build<K: RootKey>(&self, key: &Keyed<K>, buf: &mut [u8]) -> Result<usize, FrameError> {
        let n = self.emit(Mic::default(), buf)?;
        sign_last(buf, n, |msg| crypto::join_request_mic(key, msg));
        Ok(n)
    }
}

impl RejoinRequest<'_> {
    /// Checks the MIC of a type 0 or 2 rejoin-request (SNwkSIntKey).
    pub fn verify_mic_type_0_2(&self, key: &Keyed<SNwkSIntKey>) -> Result<(), FrameError> {
        if self.rejoin_type() == JoinType::RejoinType1 {
            return Err(wrong_rejoin_key());
        }
        check_mic(
            self.mic(),
            crypto::rejoin_request_mic(key, self.mic_input()),
        )
    }
    /// Checks the MIC of a type 1 rejoin-request (JSIntKey).
    pub fn verify_mic_type_1(&self, key: &Keyed<JSIntKey>) -> Result<(), FrameError> {
        if self.rejoin_type() != JoinType::RejoinType1 {
            return Err(wrong_rejoin_key());
        }
        check_mic(
            self.mic(),
            crypto::rejoin_request_mic(key, self.mic_input()),
        )
    }
}

fn wrong_rejoin_key() -> FrameError {
    FrameError::InvalidField {
        field: "RejoinType",
        value: 0,
        reason: "types 0 and 2 are signed with SNwkSIntKey, type 1 with JSIntKey",
    }
}

impl RejoinRequestRepr {
    /// Writes a type 0 or 2 rejoin-request signed with the SNwkSIntKey.
    pub fn build_type_0_2(
        &self,
        key: &Keyed<SNwkSIntKey>,
        buf: &mut [u8],
    ) -> Result<usize, FrameError> {
        if matches!(self, Self::Type1 { .. }) {
            return Err(wrong_rejoin_key());
        }
        let n = self.emit(Mic::default(), buf)?;
        sign_last(buf, n, |msg| crypto::rejoin_request_mic(key, msg));
        Ok(n)
    }
    /// Writes a type 1 rejoin-request signed with the JSIntKey.
    pub fn build_type_1(&self, key: &Keyed<JSIntKey>, buf: &mut [u8]) -> Result<usize, FrameError> {
        if !matches!(self, Self::Type1 { .. }) {
            return Err(wrong_rejoin_key());
        }
        let n = self.emit(Mic::default(), buf)?;
        sign_last(buf, n, |msg| crypto::rejoin_request_mic(key, msg));
        Ok(n)
    }
}

impl EncryptedJoinAccept<'_> {
    /// Decrypts with the key that encrypted it: the AppKey (1.0), the NwkKey
    /// (1.1, answering a join-request) or the JSEncKey (1.1, answering a
    /// rejoin-request). The MIC is not checked here: see [`JoinAccept::verify_mic_10`]
    /// and [`JoinAccept::verify_mic_11`].
    pub fn decrypt<K: JoinAcceptKey>(&self, key: &Keyed<K>) -> JoinAccept {
        let mut plain = [0u8; JoinAccept::LEN_WITH_CF_LIST];
        let bytes = self.as_bytes();
        let n = bytes.len().min(plain.len());
        plain[..n].copy_from_slice(&bytes[..n]);
        // The view guarantees 16 or 32 bytes after the MHDR, so this cannot fail.
        let _ = crypto::decrypt_join_accept(key, &mut plain[1..n]);
        JoinAccept::from_decrypted(plain, n)
    }
}

impl JoinAccept {
    /// Checks the MIC of a join-accept without OptNeg (LoRaWAN 1.0, or a 1.1
    /// device served by a 1.0 network): AppKey or NwkKey over the plaintext.
    pub fn verify_mic_10<K: RootKey>(&self, key: &Keyed<K>) -> Result<(), FrameError> {
        check_mic(
            self.mic(),
            crypto::join_accept_mic_10(key, self.mic_input()),
        )
    }

    /// Checks the MIC of a LoRaWAN 1.1 join-accept with OptNeg set: JSIntKey over
    /// JoinReqType | JoinEUI | DevNonce | the plaintext. For a rejoin, `dev_nonce`
    /// carries the RJcount of the rejoin-request.
    pub fn verify_mic_11(
        &self,
        key: &Keyed<JSIntKey>,
        join_type: JoinType,
        join_eui: Eui64,
        dev_nonce: DevNonce,
    ) -> Result<(), FrameError> {
        let computed =
            crypto::join_accept_mic_11(key, join_type, join_eui, dev_nonce, self.mic_input());
        check_mic(self.mic(), computed)
    }

    /// Encrypts the join-accept for the air into `buf`; returns its length.
    pub fn encrypt<K: JoinAcceptKey>(
        &self,
        key: &Keyed<K>,
        buf: &mut [u8],
    ) -> Result<usize, FrameError> {
        let plain = self.as_bytes();
        let out = out_buf(buf, plain.len())?;
        out.copy_from_slice(plain);
        // The length is 17 or 33 by construction.
        let _ = crypto::encrypt_join_accept(key, &mut out[1..]);
        Ok(plain.len())
    }
}

impl JoinAcceptRepr {
    /// Writes an encrypted LoRaWAN 1.0 join-accept (or one for a 1.1 device
    /// without OptNeg): MIC and encryption with the AppKey or NwkKey.
    pub fn build_10<K: RootKey + JoinAcceptKey>(
        &self,
        key: &Keyed<K>,
        buf: &mut [u8],
    ) -> Result<usize, FrameError> {
        let plain = self.to_plaintext(Mic::default());
        let mic = crypto::join_accept_mic_10(key, plain.mic_input());
        self.to_plaintext(mic).encrypt(key, buf)
    }

    /// Writes an encrypted LoRaWAN 1.1 join-accept with OptNeg: MIC with the
    /// JSIntKey, encryption with `enc_key` (the NwkKey for a join-request, the
    /// JSEncKey for a rejoin-request). `dl_settings` should have OptNeg set.
    pub fn build_11<K: JoinAcceptKey>(
        &self,
        js_int_key: &Keyed<JSIntKey>,
        join_type: JoinType,
        join_eui: Eui64,
        dev_nonce: DevNonce,
        enc_key: &Keyed<K>,
        buf: &mut [u8],
    ) -> Result<usize, FrameError> {
        let plain = self.to_plaintext(Mic::default());
        let mic = crypto::join_accept_mic_11(
            js_int_key,
            join_type,
            join_eui,
            dev_nonce,
            plain.mic_input(),
        );
        self.to_plaintext(mic).encrypt(enc_key, buf)
    }
}

impl DataFrame<'_> {
    /// Checks the MIC of a LoRaWAN 1.0 uplink; `f_cnt_up` is the full 32-bit
    /// counter (see [`FCnt::reconstruct`](crate::FCnt::reconstruct)).
    pub fn verify_uplink_mic_10(
        &self,
        key: &Keyed<NwkSKey>,
        f_cnt_up: u32,
    ) -> Result<(), FrameError> {
        self.expect_direction(Direction::Uplink)?;
        let computed = crypto::data_uplink_mic_10(key, self.dev_addr(), f_cnt_up, self.mic_input());
        check_mic(self.mic(), computed)
    }

    /// Checks the MIC of a LoRaWAN 1.1 uplink (cmacS and cmacF halves). `b1`
    /// carries ConfFCnt (0 unless the ACK bit is set), TxDr and TxCh.
    pub fn verify_uplink_mic_11(
        &self,
        f_nwk_s_int_key: &Keyed<FNwkSIntKey>,
        s_nwk_s_int_key: &Keyed<SNwkSIntKey>,
        b1: B1Fields,
        f_cnt_up: u32,
    ) -> Result<(), FrameError> {
        self.expect_direction(Direction::Uplink)?;
        let computed = crypto::data_uplink_mic_11(
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            b1,
            self.dev_addr(),
            f_cnt_up,
            self.mic_input(),
        );
        check_mic(self.mic(), computed)
    }

    /// Checks only the cmacF half (MIC bytes 2 and 3) of a LoRaWAN 1.1 uplink:
    /// what a forwarding network, which holds no SNwkSIntKey, can check.
    pub fn verify_uplink_cmac_f(
        &self,
        f_nwk_s_int_key: &Keyed<FNwkSIntKey>,
        f_cnt_up: u32,
    ) -> Result<(), FrameError> {
        self.expect_direction(Direction::Uplink)?;
        let half = crypto::data_uplink_cmac_f(
            f_nwk_s_int_key,
            self.dev_addr(),
            f_cnt_up,
            self.mic_input(),
        );
        let received = self.mic();
        let mut computed = received;
        computed.0[2..].copy_from_slice(&half);
        check_mic(received, computed)
    }

    /// Checks the MIC of a LoRaWAN 1.0 downlink.
    pub fn verify_downlink_mic_10(
        &self,
        key: &Keyed<NwkSKey>,
        f_cnt_down: u32,
    ) -> Result<(), FrameError> {
        self.expect_direction(Direction::Downlink)?;
        let computed =
            crypto::data_downlink_mic_10(key, self.dev_addr(), f_cnt_down, self.mic_input());
        check_mic(self.mic(), computed)
    }

    /// Checks the MIC of a LoRaWAN 1.1 downlink; `conf_f_cnt` is the FCntUp of
    /// the acknowledged uplink (16 bits) if the ACK bit is set, else 0.
    pub fn verify_downlink_mic_11(
        &self,
        key: &Keyed<SNwkSIntKey>,
        conf_f_cnt: u16,
        f_cnt_down: u32,
    ) -> Result<(), FrameError> {
        self.expect_direction(Direction::Downlink)?;
        let computed = crypto::data_downlink_mic_11(
            key,
            conf_f_cnt,
            self.dev_addr(),
            f_cnt_down,
            self.mic_input(),
        );
        check_mic(self.mic(), computed)
    }

    /// Decrypts the FRMPayload into `out` and returns the plaintext part of it.
    /// The key must fit the FPort: the AppSKey for FPort 1..=255, the NwkSKey
    /// (1.0) or NwkSEncKey (1.1) for FPort 0.
    pub fn decrypt_frm_payload_into<'o, K: PayloadKey>(
        &self,
        key: &Keyed<K>,
        f_cnt: u32,
        out: &'o mut [u8],
    ) -> Result<&'o [u8], FrameError> {
        check_payload_key::<K>(self.fport())?;
        let payload = self.frm_payload();
        let out = out_buf(out, payload.len())?;
        out.copy_from_slice(payload);
        crypto::decrypt_frm_payload(key, self.direction(), self.dev_addr(), f_cnt, out);
        Ok(out)
    }

    /// Decrypts LoRaWAN 1.1 FOpts into `out` (16 bytes suffice) and returns them.
    /// `f_cnt` is the frame's full counter: FCntUp for an uplink, AFCntDown for a
    /// downlink with FPort 1..=255, NFCntDown otherwise.
    pub fn decrypt_fopts_into<'o>(
        &self,
        key: &Keyed<NwkSEncKey>,
        f_cnt: u32,
        out: &'o mut [u8],
    ) -> Result<&'o [u8], FrameError> {
        let fopts = self.fopts();
        let out = out_buf(out, fopts.len())?;
        out.copy_from_slice(fopts);
        // At most 15 bytes by validation, so this cannot fail.
        let _ = crypto::decrypt_f_opts(key, self.fopts_counter(), self.dev_addr(), f_cnt, out);
        Ok(out)
    }

    fn fopts_counter(&self) -> FOptsCounter {
        match self.direction() {
            Direction::Uplink => FOptsCounter::FCntUp,
            Direction::Downlink => FOptsCounter::downlink(self.fport()),
        }
    }

    fn expect_direction(&self, expected: Direction) -> Result<(), FrameError> {
        if self.direction() == expected {
            Ok(())
        } else {
            Err(FrameError::InvalidField {
                field: "MType",
                value: self.mhdr().mtype().bits().into(),
                reason: match expected {
                    Direction::Uplink => "an uplink MIC was asked of a downlink",
                    Direction::Downlink => "a downlink MIC was asked of an uplink",
                },
            })
        }
    }
}

/// FPort 0 (MAC commands) and FPort 226 (TS011 relay messages) carry payloads
/// under a network key; every other port carries application data under the
/// AppSKey. Using the other key is a caller bug that would silently produce
/// garbage, so it is refused.
fn check_payload_key<K: AesKey>(fport: Option<u8>) -> Result<(), FrameError> {
    let app_key = K::ROLE == <AppSKey as AesKey>::ROLE;
    match fport {
        Some(p @ (0 | RELAY_FPORT)) if app_key => Err(FrameError::InvalidField {
            field: "FPort",
            value: p.into(),
            reason: "FPort 0 and relay (226) payloads use the NwkSKey or NwkSEncKey",
        }),
        Some(p) if p != 0 && p != RELAY_FPORT && !app_key => Err(FrameError::InvalidField {
            field: "FPort",
            value: p.into(),
            reason: "application payloads use the AppSKey",
        }),
        _ => Ok(()),
    }
}

/// The FPort of relay messages (LoRaWAN TS011).
const RELAY_FPORT: u8 = 226;

impl DataFrameMut<'_> {
    /// Encrypts or decrypts (the same operation) the FRMPayload in place; the key
    /// must fit the FPort as for [`DataFrame::decrypt_frm_payload_into`].
    pub fn crypt_frm_payload<K: PayloadKey>(
        &mut self,
        key: &Keyed<K>,
        f_cnt: u32,
    ) -> Result<(), FrameError> {
        let view = self.view();
        check_payload_key::<K>(view.fport())?;
        let (dir, dev_addr) = (view.direction(), view.dev_addr());
        crypto::encrypt_frm_payload(key, dir, dev_addr, f_cnt, self.frm_payload_mut());
        Ok(())
    }

    /// Encrypts or decrypts LoRaWAN 1.1 FOpts in place (see
    /// [`DataFrame::decrypt_fopts_into`] for the counter).
    pub fn crypt_fopts(&mut self, key: &Keyed<NwkSEncKey>, f_cnt: u32) {
        let view = self.view();
        let (counter, dev_addr) = (view.fopts_counter(), view.dev_addr());
        // At most 15 bytes by validation, so this cannot fail.
        let _ = crypto::encrypt_f_opts(key, counter, dev_addr, f_cnt, self.fopts_mut());
    }

    /// Signs a LoRaWAN 1.0 uplink.
    pub fn set_uplink_mic_10(
        &mut self,
        key: &Keyed<NwkSKey>,
        f_cnt_up: u32,
    ) -> Result<(), FrameError> {
        let view = self.view();
        view.expect_direction(Direction::Uplink)?;
        let mic = crypto::data_uplink_mic_10(key, view.dev_addr(), f_cnt_up, view.mic_input());
        self.set_mic(mic);
        Ok(())
    }

    /// Signs a LoRaWAN 1.1 uplink.
    pub fn set_uplink_mic_11(
        &mut self,
        f_nwk_s_int_key: &Keyed<FNwkSIntKey>,
        s_nwk_s_int_key: &Keyed<SNwkSIntKey>,
        b1: B1Fields,
        f_cnt_up: u32,
    ) -> Result<(), FrameError> {
        let view = self.view();
        view.expect_direction(Direction::Uplink)?;
        let mic = crypto::data_uplink_mic_11(
            f_nwk_s_int_key,
            s_nwk_s_int_key,
            b1,
            view.dev_addr(),
            f_cnt_up,
            view.mic_input(),
        );
        self.set_mic(mic);
        Ok(())
    }

    /// Signs a LoRaWAN 1.0 downlink.
    pub fn set_downlink_mic_10(
        &mut self,
        key: &Keyed<NwkSKey>,
        f_cnt_down: u32,
    ) -> Result<(), FrameError> {
        let view = self.view();
        view.expect_direction(Direction::Downlink)?;
        let mic = crypto::data_downlink_mic_10(key, view.dev_addr(), f_cnt_down, view.mic_input());
        self.set_mic(mic);
        Ok(())
    }

    /// Signs a LoRaWAN 1.1 downlink.
    pub fn set_downlink_mic_11(
        &mut self,
        key: &Keyed<SNwkSIntKey>,
        conf_f_cnt: u16,
        f_cnt_down: u32,
    ) -> Result<(), FrameError> {
        let view = self.view();
        view.expect_direction(Direction::Downlink)?;
        let mic = crypto::data_downlink_mic_11(
            key,
            conf_f_cnt,
            view.dev_addr(),
            f_cnt_down,
            view.mic_input(),
        );
        self.set_mic(mic);
        Ok(())
    }
}

/// Computes the MIC over `buf[..n - 4]` and writes it into the last four bytes.
fn sign_last(buf: &mut [u8], n: usize, mic: impl FnOnce(&[u8]) -> Mic) {
    if let Some(frame) = buf.get_mut(..n) {
        let at = n.saturating_sub(4);
        let m = mic(&frame[..at]);
        frame[at..].copy_from_slice(&m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{AppKey, NwkKey};
    use crate::phy::{DataFrameRepr, DlSettings, FCtrl, Frame, MType, RxDelay};
    use crate::{DevAddr, JoinNonce, NetId};

    fn h<const N: usize>(s: &str) -> [u8; N] {
        crate::hex::decode::<N>(s).unwrap()
    }

    #[test]
    fn hello_uplink_verifies_and_decrypts() {
        let f: [u8; 18] = h("400403020180010001a694642615d6c3b582");
        let Ok(Frame::Data(d)) = Frame::parse(&f) else {
            panic!()
        };
        d.verify_uplink_mic_10(&NwkSKey::from_be_bytes([2; 16]).keyed(), 1)
            .unwrap();
        let wrong = d.verify_uplink_mic_10(&NwkSKey::from_be_bytes([3; 16]).keyed(), 1);
        assert!(matches!(wrong, Err(FrameError::MicMismatch { .. })));
        let mut out = [0u8; 16];
        let plain = d
            .decrypt_frm_payload_into(&AppSKey::from_be_bytes([1; 16]).keyed(), 1, &mut out)
            .unwrap();
        assert_eq!(plain, b"hello");
    }

    #[test]
    fn confirmed_downlink_with_32_bit_fcnt_decrypts() {
        // lora-rs: FCnt 76543 (0x12aff), the frame carries 0x2aff.
        let f: [u8; 23] = h("a00403020180ff2a2a0af1a36a05d0125f885d881d49e1");
        let d = DataFrame::new_checked(&f).unwrap();
        assert_eq!(d.fcnt(), 0x2aff);
        let mut out = [0u8; 16];
        let key = AppSKey::from_be_bytes([1; 16]).keyed();
        assert_eq!(
            d.decrypt_frm_payload_into(&key, 76543, &mut out).unwrap(),
            b"hello lora"
        );
        // The MIC with the NwkSKey of the same vector set.
        d.verify_downlink_mic_10(&NwkSKey::from_be_bytes([2; 16]).keyed(), 76543)
            .unwrap();
    }

    #[test]
    fn lrwn_1_1_downlink_with_encrypted_fopts() {
        let f: [u8; 20] = h("600403020103000022ac0a01f0b468ddaa5ed13a");
        let d = DataFrame::new_checked(&f).unwrap();
        let s_int: SNwkSIntKey = "01010101010101010101010101010100".parse().unwrap();
        let enc: NwkSEncKey = "01010101010101010101010101010200".parse().unwrap();
        let app: AppSKey = "100f0e0d0c0b0a090807060504030201".parse().unwrap();
        d.verify_downlink_mic_11(&s_int.keyed(), 0, 0).unwrap();
        let mut fopts = [0u8; 16];
        assert_eq!(
            d.decrypt_fopts_into(&enc.keyed(), 0, &mut fopts).unwrap(),
            &[0x02, 0x07, 0x01]
        );
        let mut payload = [0u8; 16];
        assert_eq!(
            d.decrypt_frm_payload_into(&app.keyed(), 0, &mut payload)
                .unwrap(),
            &[1, 2, 3, 4]
        );
    }

    #[test]
    fn join_request_mic_known_answer_and_build() {
        let key: AppKey = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
        let f: [u8; 23] = h("0001010101010101010202020202020202030309b97b32");
        let Ok(Frame::JoinRequest(jr)) = Frame::parse(&f) else {
            panic!()
        };
        jr.verify_mic(&key.keyed()).unwrap();
        let mut buf = [0u8; 23];
        assert_eq!(jr.repr().build(&key.keyed(), &mut buf), Ok(23));
        assert_eq!(buf, f);
    }

    #[test]
    fn join_accept_1_0_known_answer() {
        let key: AppKey = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
        let wire: [u8; 17] = h("2023cf335489aae3183c0be0baa8dee5f3");
        let Ok(Frame::JoinAccept(enc)) = Frame::parse(&wire) else {
            panic!()
        };
        let ja = enc.decrypt(&key.keyed());
        assert_eq!(
            ja.as_bytes(),
            &h::<17>("200101010202020403020100003449f212")
        );
        ja.verify_mic_10(&key.keyed()).unwrap();
        let mut again = [0u8; 17];
        assert_eq!(ja.repr().build_10(&key.keyed(), &mut again), Ok(17));
        assert_eq!(again, wire);
    }

    #[test]
    fn join_accept_1_0_lora_rs_vector_and_session_keys() {
        let key: AppKey = "00112233445566778899aabbccddeeff".parse().unwrap();
        let wire: [u8; 17] = h("20493eeb51fba2116f810edb3742975142");
        let ja = EncryptedJoinAccept::new_checked(&wire)
            .unwrap()
            .decrypt(&key.keyed());
        assert_eq!(
            ja.as_bytes(),
            &h::<17>("20c70b5701112280190302000043485bbc")
        );
        ja.verify_mic_10(&key.keyed()).unwrap();
        let keys = crypto::derive_session_keys_10(
            &key.keyed(),
            ja.join_nonce(),
            ja.home_net_id(),
            DevNonce::from_le_bytes([0xcc, 0xdd]),
        );
        assert_eq!(
            keys.nwk_s_key.to_string(),
            "406b1337d80753820540e280f81299e9"
        );
        assert_eq!(
            keys.app_s_key.to_string(),
            "4f5c409751841b6dfecbd38402237942"
        );
    }

    #[test]
    fn join_accept_1_1_known_answer() {
        // lrwn's example signs with these bytes as JSIntKey and encrypts with them as NwkKey.
        let bytes: [u8; 16] = h("0102030405060708090a0b0c0d0e0f10");
        let (js_int, nwk) = (JSIntKey::from_be_bytes(bytes), NwkKey::from_be_bytes(bytes));
        let join_eui: Eui64 = "0807060504030201".parse().unwrap();
        let repr = JoinAcceptRepr {
            join_nonce: JoinNonce::from_u32(65793).unwrap(),
            home_net_id: "020202".parse().unwrap(),
            dev_addr: "01020304".parse().unwrap(),
            dl_settings: DlSettings::new(true, 0, 0).unwrap(),
            rx_delay: RxDelay(0),
            cf_list: None,
        };
        let mut buf = [0u8; 33];
        let n = repr
            .build_11(
                &js_int.keyed(),
                JoinType::JoinRequest,
                join_eui,
                DevNonce(258),
                &nwk.keyed(),
                &mut buf,
            )
            .unwrap();
        assert_eq!(&buf[..n], &h::<17>("207abeea06b02920f11c02d0348fcf1815"));
        let ja = EncryptedJoinAccept::new_checked(&buf[..n])
            .unwrap()
            .decrypt(&nwk.keyed());
        assert_eq!(ja.mic().to_string(), "93ff9a3a");
        ja.verify_mic_11(
            &js_int.keyed(),
            JoinType::JoinRequest,
            join_eui,
            DevNonce(258),
        )
        .unwrap();
        assert!(
            ja.verify_mic_11(
                &js_int.keyed(),
                JoinType::RejoinType0,
                join_eui,
                DevNonce(258)
            )
            .is_err()
        );
        assert_eq!(ja.repr(), repr);
    }

    #[test]
    fn payload_key_must_fit_the_port() {
        let repr = DataFrameRepr {
            mtype: MType::UnconfirmedDataUp,
            dev_addr: DevAddr::from_u32(1),
            fctrl: FCtrl::default(),
            fcnt: 0,
            fopts: &[],
            fport: Some(0),
            frm_payload: &[1, 2],
        };
        let mut buf = [0u8; 32];
        let n = repr.emit(Mic::default(), &mut buf).unwrap();
        let d = DataFrame::new_checked(&buf[..n]).unwrap();
        let mut out = [0u8; 8];
        let app = AppSKey::default().keyed();
        assert!(matches!(
            d.decrypt_frm_payload_into(&app, 0, &mut out),
            Err(FrameError::InvalidField {
                field: "FPort",
                value: 0,
                ..
            })
        ));
        assert!(
            d.decrypt_frm_payload_into(&NwkSKey::default().keyed(), 0, &mut out)
                .is_ok()
        );
        let n = DataFrameRepr {
            fport: Some(5),
            ..repr
        }
        .emit(Mic::default(), &mut buf)
        .unwrap();
        let d = DataFrame::new_checked(&buf[..n]).unwrap();
        assert!(
            d.decrypt_frm_payload_into(&NwkSEncKey::default().keyed(), 0, &mut out)
                .is_err()
        );
        assert!(d.decrypt_frm_payload_into(&app, 0, &mut out).is_ok());
    }

    #[test]
    fn uplink_mic_on_a_downlink_is_refused() {
        let f: [u8; 12] = h("600403020100000000000000");
        let d = DataFrame::new_checked(&f).unwrap();
        assert!(matches!(
            d.verify_uplink_mic_10(&NwkSKey::default().keyed(), 0),
            Err(FrameError::InvalidField { field: "MType", .. })
        ));
    }

    #[test]
    fn rejoin_keys_must_fit_the_type() {
        let repr = RejoinRequestRepr::Type1 {
            join_eui: Eui64::from_u64(1),
            dev_eui: Eui64::from_u64(2),
            rj_count1: 3,
        };
        let mut buf = [0u8; 24];
        let js = JSIntKey::from_be_bytes([9; 16]).keyed();
        assert!(
            repr.build_type_0_2(&SNwkSIntKey::default().keyed(), &mut buf)
                .is_err()
        );
        let n = repr.build_type_1(&js, &mut buf).unwrap();
        let rj = RejoinRequest::new_checked(&buf[..n]).unwrap();
        rj.verify_mic_type_1(&js).unwrap();
        assert!(
            rj.verify_mic_type_0_2(&SNwkSIntKey::default().keyed())
                .is_err()
        );
        let t0 = RejoinRequestRepr::Type0 {
            net_id: NetId::from_u32(1).unwrap(),
            dev_eui: Eui64::from_u64(2),
            rj_count0: 0,
        };
        let s = SNwkSIntKey::from_be_bytes([4; 16]).keyed();
        let n = t0.build_type_0_2(&s, &mut buf).unwrap();
        RejoinRequest::new_checked(&buf[..n])
            .unwrap()
            .verify_mic_type_0_2(&s)
            .unwrap();
    }

    mod props {
        use super::*;
        use crate::phy::CfList;
        use proptest::prelude::*;

        fn repr() -> impl Strategy<Value = JoinAcceptRepr> {
            (
                0u32..0x100_0000,
                0u32..0x100_0000,
                any::<u32>(),
                any::<u8>(),
                any::<u8>(),
                proptest::option::of(any::<[u8; 16]>()),
            )
                .prop_map(|(nonce, net_id, addr, dl, rx, cf)| JoinAcceptRepr {
                    join_nonce: JoinNonce::from_u32(nonce).unwrap(),
                    home_net_id: NetId::from_u32(net_id).unwrap(),
                    dev_addr: DevAddr::from_u32(addr),
                    dl_settings: DlSettings(dl),
                    rx_delay: RxDelay(rx),
                    cf_list: cf.map(CfList),
                })
        }

        proptest! {
            #[test]
            fn join_accept_build_parse_build_is_identity(
                repr in repr(), key in any::<[u8; 16]>(), js in any::<[u8; 16]>(),
                join_eui in any::<u64>(), nonce in any::<u16>(), v11 in any::<bool>(),
            ) {
                let nwk = NwkKey::from_be_bytes(key).keyed();
                let js_int = JSIntKey::from_be_bytes(js).keyed();
                let join_eui = Eui64::from_u64(join_eui);
                let build = |r: &JoinAcceptRepr, buf: &mut [u8]| if v11 {
                    r.build_11(&js_int, JoinType::JoinRequest, join_eui, DevNonce(nonce), &nwk, buf)
                } else {
                    r.build_10(&nwk, buf)
                };
                let mut buf = [0u8; 33];
                let n = build(&repr, &mut buf).unwrap();
                let Ok(Frame::JoinAccept(enc)) = Frame::parse(&buf[..n]) else {
                    panic!("not a join-accept")
                };
                let ja = enc.decrypt(&nwk);
                prop_assert_eq!(ja.repr(), repr);
                if v11 {
                    prop_assert!(ja.verify_mic_11(&js_int, JoinType::JoinRequest, join_eui, DevNonce(nonce)).is_ok());
                } else {
                    prop_assert!(ja.verify_mic_10(&nwk).is_ok());
                }
                let mut again = [0u8; 33];
                let m = build(&ja.repr(), &mut again).unwrap();
                prop_assert_eq!(&again[..m], &buf[..n]);
            }

            #[test]
            fn data_frame_sign_verify_and_crypt_round_trip(
                up in any::<bool>(), key in any::<[u8; 16]>(), fcnt in any::<u32>(),
                payload in proptest::collection::vec(any::<u8>(), 0..100),
                fopts in proptest::collection::vec(any::<u8>(), 0..=15),
                conf in any::<u16>(), tx_dr in any::<u8>(), tx_ch in any::<u8>(),
            ) {
                let mtype = if up { MType::ConfirmedDataUp } else { MType::ConfirmedDataDown };
                let repr = DataFrameRepr {
                    mtype, dev_addr: DevAddr::from_u32(fcnt ^ 0x5a5a), fctrl: FCtrl::default(),
                    fcnt, fopts: &fopts, fport: Some(1), frm_payload: &payload,
                };
                let mut buf = [0u8; 256];
                let n = repr.emit(Mic::default(), &mut buf).unwrap();
                let app = AppSKey::from_be_bytes(key).keyed();
                let enc = NwkSEncKey::from_be_bytes(key).keyed();
                let f_int = FNwkSIntKey::from_be_bytes(key).keyed();
                let s_int = SNwkSIntKey::from_be_bytes([key[0] ^ 1; 16]).keyed();
                let b1 = B1Fields { conf_f_cnt: conf, tx_dr, tx_ch };
                let mut frame = DataFrameMut::new_checked(&mut buf[..n]).unwrap();
                frame.crypt_frm_payload(&app, fcnt).unwrap();
                frame.crypt_fopts(&enc, fcnt);
                if up {
                    frame.set_uplink_mic_11(&f_int, &s_int, b1, fcnt).unwrap();
                } else {
                    frame.set_downlink_mic_11(&s_int, conf, fcnt).unwrap();
                }
                let d = DataFrame::new_checked(&buf[..n]).unwrap();
                if up {
                    prop_assert!(d.verify_uplink_mic_11(&f_int, &s_int, b1, fcnt).is_ok());
                    prop_assert!(d.verify_uplink_cmac_f(&f_int, fcnt).is_ok());
                    // Another B1 changes the MIC's SNwkSIntKey half, 16 bits:
                    // one B1 in 65 536 signs alike, and must then verify.
                    let other = B1Fields { conf_f_cnt: conf.wrapping_add(1), ..b1 };
                    let mut resigned = buf;
                    DataFrameMut::new_checked(&mut resigned[..n])
                        .unwrap()
                        .set_uplink_mic_11(&f_int, &s_int, other, fcnt)
                        .unwrap();
                    let same_mic = resigned[n - 4..n] == buf[n - 4..n];
                    prop_assert_eq!(
                        d.verify_uplink_mic_11(&f_int, &s_int, other, fcnt).is_ok(),
                        same_mic
                    );
                } else {
                    prop_assert!(d.verify_downlink_mic_11(&s_int, conf, fcnt).is_ok());
                }
                let (mut p, mut o) = ([0u8; 128], [0u8; 16]);
                prop_assert_eq!(d.decrypt_frm_payload_into(&app, fcnt, &mut p).unwrap(), payload.as_slice());
                prop_assert_eq!(d.decrypt_fopts_into(&enc, fcnt, &mut o).unwrap(), fopts.as_slice());
            }
        }
    }
}
