//! Message integrity codes: the first four bytes of an AES-CMAC over the frame,
//! prefixed for data frames by a B0 (or B1) block that binds the frame to its
//! device address, direction and full 32-bit frame counter.
//!
//! `msg` is always the part of the PHYPayload the specification MICs: from the
//! MHDR to the end of the payload, without the MIC. Its length goes into the
//! last byte of B0; a LoRaWAN PHYPayload is at most 255 bytes, and only the low
//! 8 bits of a longer `msg` would be used.

use super::{Keyed, RejoinMicKey, RootKey};
use crate::keys::{AesKey, FNwkSIntKey, JSIntKey, NwkSKey, SNwkSIntKey};
use crate::phy::JoinType;
use crate::{DevAddr, DevNonce, Direction, Eui64, Mic};

/// The fields of the B1 block that LoRaWAN 1.1 adds to the MIC of an uplink,
/// keyed by SNwkSIntKey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct B1Fields {
    /// ConfFCnt: when the uplink has the ACK bit set, the frame counter (its low
    /// 16 bits) of the confirmed downlink it acknowledges; otherwise 0.
    pub conf_f_cnt: u16,
    /// TxDr: the data rate of the transmission.
    pub tx_dr: u8,
    /// TxCh: the index of the channel of the transmission.
    pub tx_ch: u8,
}

fn mic(tag: [u8; 16]) -> Mic {
    Mic::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])
}

/// `0x49 | ConfFCnt | TxDr | TxCh | Dir | DevAddr | FCnt | 0x00 | len(msg)`: the
/// B0 block (TxDr and TxCh zero) and the B1 block.
fn b_block(b1: B1Fields, dir: Direction, dev_addr: DevAddr, f_cnt: u32, len: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = 0x49;
    b[1..3].copy_from_slice(&b1.conf_f_cnt.to_le_bytes());
    b[3] = b1.tx_dr;
    b[4] = b1.tx_ch;
    b[5] = dir.dir_byte();
    b[6..10].copy_from_slice(&dev_addr.to_le_bytes());
    b[10..14].copy_from_slice(&f_cnt.to_le_bytes());
    // The length byte is one octet by definition (see the module documentation).
    b[15] = len as u8;
    b
}

fn cmac_b<K: AesKey>(key: &Keyed<K>, b: &[u8; 16], msg: &[u8]) -> [u8; 16] {
    let mut mac = key.mac();
    mac.update(b);
    mac.update(msg);
    mac.finalize()
}

/// The MIC of a join-request, `msg` = MHDR | JoinEUI | DevEUI | DevNonce:
/// `aes128_cmac(NwkKey, msg)[0..4]`, with the AppKey for a LoRaWAN 1.0 device.
///
/// ```
/// use lorawan::crypto::join_request_mic;
/// use lorawan::keys::AppKey;
/// let key: AppKey = "0102030405060708090a0b0c0d0e0f10".parse().unwrap();
/// let msg = [0x00, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3];
/// assert_eq!(join_request_mic(&key.keyed(), &msg).to_string(), "09b97b32");
/// ```
pub fn join_request_mic<K: RootKey>(key: &Keyed<K>, msg: &[u8]) -> Mic {
    mic(key.cmac(msg))
}

/// The MIC of a LoRaWAN 1.1 rejoin-request, `msg` = MHDR | RejoinType | … |
/// RJcount: `aes128_cmac(key, msg)[0..4]`, keyed by SNwkSIntKey for types 0 and 2
/// and by JSIntKey for type 1.
pub fn rejoin_request_mic<K: RejoinMicKey>(key: &Keyed<K>, msg: &[u8]) -> Mic {
    mic(key.cmac(msg))
}

/// The MIC of a join-accept without OptNeg (LoRaWAN 1.0, or a 1.1 device joining
/// a 1.0 network), `msg` = MHDR | JoinNonce | NetID | DevAddr | DLSettings |
/// RxDelay | CFList, decrypted: `aes128_cmac(key, msg)[0..4]` with the AppKey
/// (1.0) or the NwkKey (1.1).
pub fn join_accept_mic_10<K: RootKey>(key: &Keyed<K>, msg: &[u8]) -> Mic {
    mic(key.cmac(msg))
}

/// The MIC of a LoRaWAN 1.1 join-accept with OptNeg set:
/// `aes128_cmac(JSIntKey, JoinReqType | JoinEUI | DevNonce | msg)[0..4]`, where
/// `msg` = MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | CFList.
///
/// `join_type` says what is answered: a join-request (JoinReqType `0xFF`) or a
/// rejoin-request of type 0, 1 or 2. `dev_nonce` is the DevNonce of the
/// join-request, or for a rejoin-request its RJcount0 (types 0 and 2) or RJcount1
/// (type 1).
pub fn join_accept_mic_11(
    key: &Keyed<JSIntKey>,
    join_type: JoinType,
    join_eui: Eui64,
    dev_nonce: DevNonce,
    msg: &[u8],
) -> Mic {
    let mut mac = key.mac();
    mac.update(&[join_type.join_req_type()]);
    mac.update(&join_eui.to_le_bytes());
    mac.update(&dev_nonce.to_le_bytes());
    mac.update(msg);
    mic(mac.finalize())
}

/// The MIC of a LoRaWAN 1.0 data uplink: `aes128_cmac(NwkSKey, B0 | msg)[0..4]`,
/// with `f_cnt_up` the full 32-bit FCntUp (the frame carries its low 16 bits).
pub fn data_uplink_mic_10(
    key: &Keyed<NwkSKey>,
    dev_addr: DevAddr,
    f_cnt_up: u32,
    msg: &[u8],
) -> Mic {
    let b0 = b_block(
        B1Fields::default(),
        Direction::Uplink,
        dev_addr,
        f_cnt_up,
        msg.len(),
    );
    mic(cmac_b(key, &b0, msg))
}

/// The MIC of a LoRaWAN 1.1 data uplink: `cmacS[0..2] | cmacF[0..2]`, where
/// `cmacS = aes128_cmac(SNwkSIntKey, B1 | msg)` and
/// `cmacF = aes128_cmac(FNwkSIntKey, B0 | msg)`.
pub fn data_uplink_mic_11(
    f_nwk_s_int_key: &Keyed<FNwkSIntKey>,
    s_nwk_s_int_key: &Keyed<SNwkSIntKey>,
    b1: B1Fields,
    dev_addr: DevAddr,
    f_cnt_up: u32,
    msg: &[u8],
) -> Mic {
    let b1 = b_block(b1, Direction::Uplink, dev_addr, f_cnt_up, msg.len());
    let cmac_s = cmac_b(s_nwk_s_int_key, &b1, msg);
    let [f0, f1] = data_uplink_cmac_f(f_nwk_s_int_key, dev_addr, f_cnt_up, msg);
    Mic::from_be_bytes([cmac_s[0], cmac_s[1], f0, f1])
}

/// The FNwkSIntKey half of a LoRaWAN 1.1 uplink MIC, `cmacF[0..2]`, which is
/// bytes 2 and 3 of the MIC: what a forwarding network server, which holds no
/// SNwkSIntKey, can check.
pub fn data_uplink_cmac_f(
    f_nwk_s_int_key: &Keyed<FNwkSIntKey>,
    dev_addr: DevAddr,
    f_cnt_up: u32,
    msg: &[u8],
) -> [u8; 2] {
    let b0 = b_block(
        B1Fields::default(),
        Direction::Uplink,
        dev_addr,
        f_cnt_up,
        msg.len(),
    );
    let cmac_f = cmac_b(f_nwk_s_int_key, &b0, msg);
    [cmac_f[0], cmac_f[1]]
}

/// The MIC of a LoRaWAN 1.0 data downlink: `aes128_cmac(NwkSKey, B0 | msg)[0..4]`,
/// with `f_cnt_down` the full 32-bit FCntDown.
pub fn data_downlink_mic_10(
    key: &Keyed<NwkSKey>,
    dev_addr: DevAddr,
    f_cnt_down: u32,
    msg: &[u8],
) -> Mic {
    let b0 = b_block(
        B1Fields::default(),
        Direction::Downlink,
        dev_addr,
        f_cnt_down,
        msg.len(),
    );
    mic(cmac_b(key, &b0, msg))
}

/// The MIC of a LoRaWAN 1.1 data downlink: `aes128_cmac(SNwkSIntKey, B0 |
/// msg)[0..4]`, with `f_cnt_down` the full 32-bit NFCntDown or AFCntDown the
/// frame carries, and `conf_f_cnt` (ConfFCnt) the low 16 bits of the FCntUp of
/// the confirmed uplink this downlink acknowledges when its ACK bit is set,
/// otherwise 0.
pub fn data_downlink_mic_11(
    key: &Keyed<SNwkSIntKey>,
    conf_f_cnt: u16,
    dev_addr: DevAddr,
    f_cnt_down: u32,
    msg: &[u8],
) -> Mic {
    let fields = B1Fields {
        conf_f_cnt,
        ..B1Fields::default()
    };
    let b0 = b_block(fields, Direction::Downlink, dev_addr, f_cnt_down, msg.len());
    mic(cmac_b(key, &b0, msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::h;
    use crate::keys::AppKey;

    fn app_key() -> Keyed<AppKey> {
        "0102030405060708090a0b0c0d0e0f10"
            .parse::<AppKey>()
            .unwrap()
            .keyed()
    }

    #[test]
    fn join_request_mic_matches_lrwn_doc_vector() {
        // MHDR | JoinEUI 0101… | DevEUI 0202… | DevNonce 771 (0x0303).
        let frame: [u8; 23] = h("0001010101010101010202020202020202030309b97b32");
        assert_eq!(join_request_mic(&app_key(), &frame[..19]).0, frame[19..]);
    }

    #[test]
    fn join_accept_mic_10_matches_lrwn_doc_vector() {
        // Decrypted: MHDR | JoinNonce 65793 | NetID 020202 | DevAddr 01020304 | DLSettings | RxDelay.
        let msg: [u8; 13] = h("20010101020202040302010000");
        assert_eq!(join_accept_mic_10(&app_key(), &msg).to_string(), "3449f212");
    }

    #[test]
    fn join_accept_mic_10_matches_lora_rs_vector() {
        let key: AppKey = "00112233445566778899aabbccddeeff".parse().unwrap();
        let plain: [u8; 17] = h("20c70b5701112280190302000043485bbc");
        assert_eq!(
            join_accept_mic_10(&key.keyed(), &plain[..13]).0,
            plain[13..]
        );
    }

    #[test]
    fn join_accept_mic_11_matches_lrwn_doc_vector() {
        // Same join-accept with OptNeg (DLSettings bit 7) set; lrwn keys the MIC
        // with the same bytes as its AppKey, here taken as the JSIntKey.
        let key = JSIntKey::from_be_bytes(h("0102030405060708090a0b0c0d0e0f10")).keyed();
        let msg: [u8; 13] = h("20010101020202040302018000");
        let join_eui: Eui64 = "0807060504030201".parse().unwrap();
        let got = join_accept_mic_11(&key, JoinType::JoinRequest, join_eui, DevNonce(258), &msg);
        assert_eq!(got.to_string(), "93ff9a3a");
    }

    #[test]
    fn data_uplink_mic_10_matches_hello_vector() {
        let frame: [u8; 18] = h("400403020180010001a694642615d6c3b582");
        let key = NwkSKey::from_be_bytes([2; 16]).keyed();
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        assert_eq!(
            data_uplink_mic_10(&key, dev_addr, 1, &frame[..14]).0,
            frame[14..]
        );
        // The 32-bit counter is in B0: a rolled-over FCntUp gives another MIC.
        assert_ne!(
            data_uplink_mic_10(&key, dev_addr, 0x1_0001, &frame[..14]).0,
            frame[14..]
        );
    }

    #[test]
    fn data_uplink_mic_10_matches_lrwn_confirmed_uplink_vector() {
        // ConfirmedDataUp, FOpts DevStatusAns, FPort 10, FCnt 0.
        let frame: [u8; 20] = h("80040302010300000673070ae264d4f7e117d2c0");
        let key = NwkSKey::from_be_bytes(h("0102030405060708090a0b0c0d0e0f10")).keyed();
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        assert_eq!(
            data_uplink_mic_10(&key, dev_addr, 0, &frame[..16]).0,
            frame[16..]
        );
    }

    #[test]
    fn data_uplink_mic_10_matches_lora_rs_vectors() {
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        let key = NwkSKey::from_be_bytes([1; 16]).keyed();
        // FPort 0 with encrypted MAC commands, and FOpts in the clear.
        let fport_0: [u8; 16] = h("40040302010000000069369eee6aa508");
        assert_eq!(
            data_uplink_mic_10(&key, dev_addr, 0, &fport_0[..12]).0,
            fport_0[12..]
        );
        let f_opts: [u8; 15] = h("4004030201030000020305d7fa0c6c");
        assert_eq!(
            data_uplink_mic_10(&key, dev_addr, 0, &f_opts[..11]).0,
            f_opts[11..]
        );
        // A 252-byte message: sixteen CMAC blocks.
        let long: [u8; 256] = h(crate::crypto::tests::LONG_UPLINK);
        let key = NwkSKey::from_be_bytes([2; 16]).keyed();
        assert_eq!(
            data_uplink_mic_10(&key, dev_addr, 0, &long[..252]).0,
            long[252..]
        );
    }

    #[test]
    fn data_downlink_mic_10_matches_fcnt_76543_vector() {
        // Confirmed downlink carrying FCnt 0x2aff of the 32-bit counter 76543.
        let frame: [u8; 23] = h("a00403020180ff2a2a0af1a36a05d0125f885d881d49e1");
        let key = NwkSKey::from_be_bytes([2; 16]).keyed();
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        let got = data_downlink_mic_10(&key, dev_addr, 76543, &frame[..19]);
        assert_eq!(got.0, frame[19..]);
    }

    #[test]
    fn data_downlink_mic_11_matches_lrwn_encrypted_fopts_vector() {
        // UnconfirmedDataDown, encrypted FOpts (3 bytes), FPort 1, FCnt 0.
        let frame: [u8; 20] = h("600403020103000022ac0a01f0b468ddaa5ed13a");
        let key = SNwkSIntKey::from_be_bytes(h("01010101010101010101010101010100")).keyed();
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        assert_eq!(
            data_downlink_mic_11(&key, 0, dev_addr, 0, &frame[..16]).0,
            frame[16..]
        );
        // ConfFCnt enters B0 in 1.1.
        assert_ne!(
            data_downlink_mic_11(&key, 1, dev_addr, 0, &frame[..16]).0,
            frame[16..]
        );
    }

    #[test]
    fn data_uplink_mic_11_equals_1_0_mic_halves_when_keys_coincide() {
        // With ConfFCnt, TxDr and TxCh zero, B1 = B0; a 1.0 session's single key in
        // both roles gives cmacF[0..2] | cmacF[0..2].
        let frame: [u8; 18] = h("400403020180010001a694642615d6c3b582");
        let key = NwkSKey::from_be_bytes([2; 16]);
        let dev_addr = DevAddr::from_u32(0x0102_0304);
        let f = key.as_f_nwk_s_int_key().keyed();
        let s = key.as_s_nwk_s_int_key().keyed();
        let mic = data_uplink_mic_11(&f, &s, B1Fields::default(), dev_addr, 1, &frame[..14]);
        assert_eq!(mic.0, [0xd6, 0xc3, 0xd6, 0xc3]);
        assert_eq!(
            data_uplink_cmac_f(&f, dev_addr, 1, &frame[..14]),
            [0xd6, 0xc3]
        );
        // The B1 fields only change the cmacS half.
        let b1 = B1Fields {
            conf_f_cnt: 7,
            tx_dr: 5,
            tx_ch: 2,
        };
        let other = data_uplink_mic_11(&f, &s, b1, dev_addr, 1, &frame[..14]);
        assert_ne!(other.0[..2], mic.0[..2]);
        assert_eq!(other.0[2..], mic.0[2..]);
    }

    #[test]
    fn join_request_mic_matches_lora_rs_vector() {
        let frame: [u8; 23] = h("00040302010403020105040302050403022d106a990e12");
        let key = AppKey::from_be_bytes([1; 16]).keyed();
        assert_eq!(join_request_mic(&key, &frame[..19]).0, frame[19..]);
        let wrong = AppKey::from_be_bytes([2; 16]).keyed();
        assert_ne!(join_request_mic(&wrong, &frame[..19]).0, frame[19..]);
    }
}
