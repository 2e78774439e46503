//! Payload confidentiality: FRMPayload and FOpts (AES-128 in counter mode, after
//! IEEE 802.15.4 Annex B) and the join-accept (AES-128 in ECB mode).
//!
//! All functions work in place and encryption is its own inverse for FRMPayload
//! and FOpts; the `decrypt_*` names exist for readability.

use super::{CryptoError, JoinAcceptKey, Keyed, PayloadKey};
use crate::keys::NwkSEncKey;
use crate::{DevAddr, Direction};

/// The keystream blocks computed per call to the block cipher: enough for the
/// largest LoRaWAN FRMPayload (242 bytes) in two passes, and for the CPU to
/// pipeline them.
const BATCH: usize = 8;

/// `0x01 | tag (4 bytes) | Dir | DevAddr | FCnt | 0x00 | i`, with `i` left 0.
fn a_block(tag: u8, dir: Direction, dev_addr: DevAddr, f_cnt: u32) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0x01;
    a[4] = tag;
    a[5] = dir.dir_byte();
    a[6..10].copy_from_slice(&dev_addr.to_le_bytes());
    a[10..14].copy_from_slice(&f_cnt.to_le_bytes());
    a
}

/// Encrypts (or decrypts: the operation is the same) an FRMPayload in place:
/// `payload` is XORed with `S = aes128_encrypt(key, A1) | aes128_encrypt(key, A2) | …`,
/// where `Ai = 0x01 | 0x00 × 4 | Dir | DevAddr | FCnt | 0x00 | i`.
///
/// The key is the AppSKey for FPort 1..=255, and for FPort 0 the NwkSKey
/// (LoRaWAN 1.0) or the NwkSEncKey (1.1). `f_cnt` is the full 32-bit frame
/// counter the frame carries (FCntUp; FCntDown in 1.0, AFCntDown or NFCntDown in
/// 1.1). The block counter `i` is one byte: payloads beyond 4080 bytes, far
/// larger than any LoRaWAN frame, would reuse keystream.
///
/// ```
/// use lorawan::crypto::encrypt_frm_payload;
/// use lorawan::keys::AppSKey;
/// use lorawan::{DevAddr, Direction};
/// let key = AppSKey::from_be_bytes([1; 16]).keyed();
/// let mut payload = *b"hello";
/// encrypt_frm_payload(&key, Direction::Uplink, DevAddr::from_u32(0x01020304), 1, &mut payload);
/// assert_eq!(payload, [0xa6, 0x94, 0x64, 0x26, 0x15]);
/// ```
pub fn encrypt_frm_payload<K: PayloadKey>(
    key: &Keyed<K>,
    dir: Direction,
    dev_addr: DevAddr,
    f_cnt: u32,
    payload: &mut [u8],
) {
    let a = a_block(0, dir, dev_addr, f_cnt);
    let mut i: u8 = 0;
    for batch in payload.chunks_mut(16 * BATCH) {
        let blocks = batch.len().div_ceil(16);
        let mut keystream = [a; BATCH];
        for block in &mut keystream[..blocks] {
            i = i.wrapping_add(1);
            block[15] = i;
        }
        key.encrypt_blocks(&mut keystream[..blocks]);
        for (byte, k) in batch.iter_mut().zip(keystream.as_flattened()) {
            *byte ^= k;
        }
    }
}

/// Decrypts an FRMPayload in place: the same operation as
/// [`encrypt_frm_payload`].
pub fn decrypt_frm_payload<K: PayloadKey>(
    key: &Keyed<K>,
    dir: Direction,
    dev_addr: DevAddr,
    f_cnt: u32,
    payload: &mut [u8],
) {
    encrypt_frm_payload(key, dir, dev_addr, f_cnt, payload);
}

/// The frame counter a LoRaWAN 1.1 frame carries, which selects the A1 block of
/// its FOpts encryption.
///
/// The block follows the LoRaWAN 1.1 errata "FOpts encryption, usage of FCntDwn"
/// (January 2018): `A1 = 0x01 | 0x00000001 (FCntUp or NFCntDown) or 0x00000002
/// (AFCntDown) | Dir | DevAddr | FCnt | 0x00 | 0x01`, the 4-byte constant written
/// with its significant byte at offset 4. This is what ChirpStack (`lrwn`) and
/// LoRaMac-node for LoRaWAN 1.1 sessions do. The unamended 1.1 text, whose A
/// block has zeros at offsets 1 to 4 and 15 and always uses NFCntDown on
/// downlinks, is not implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FOptsCounter {
    /// An uplink: FCntUp.
    FCntUp,
    /// A downlink without FPort or with FPort 0: NFCntDown.
    NFCntDown,
    /// A downlink with FPort 1..=255: AFCntDown.
    AFCntDown,
}

impl FOptsCounter {
    /// The counter of a downlink with this FPort: AFCntDown for FPort 1..=255,
    /// NFCntDown otherwise.
    pub const fn downlink(f_port: Option<u8>) -> Self {
        match f_port {
            Some(port) if port > 0 => Self::AFCntDown,
            _ => Self::NFCntDown,
        }
    }

    /// The direction of the frames that carry this counter.
    pub const fn direction(self) -> Direction {
        match self {
            Self::FCntUp => Direction::Uplink,
            Self::NFCntDown | Self::AFCntDown => Direction::Downlink,
        }
    }

    /// The byte at offset 4 of the A1 block.
    const fn a_tag(self) -> u8 {
        match self {
            Self::FCntUp | Self::NFCntDown => 0x01,
            Self::AFCntDown => 0x02,
        }
    }
}

/// Encrypts (or decrypts: the operation is the same) the FOpts of a LoRaWAN 1.1
/// frame in place with the NwkSEncKey: `f_opts` is XORed with
/// `aes128_encrypt(NwkSEncKey, A1)`; see [`FOptsCounter`] for the A1 block.
///
/// `f_cnt` is the full 32-bit value of the counter `counter` names. LoRaWAN 1.0
/// FOpts are not encrypted.
///
/// # Errors
///
/// [`CryptoError::FOptsLength`] if `f_opts` is longer than 15 bytes.
///
/// ```
/// use lorawan::crypto::{encrypt_f_opts, FOptsCounter};
/// use lorawan::keys::NwkSEncKey;
/// use lorawan::DevAddr;
/// let key: NwkSEncKey = "01010101010101010101010101010200".parse().unwrap();
/// let mut f_opts = [0x02, 0x07, 0x01]; // LinkCheckAns
/// let counter = FOptsCounter::downlink(Some(1));
/// encrypt_f_opts(&key.keyed(), counter, DevAddr::from_u32(0x01020304), 0, &mut f_opts).unwrap();
/// assert_eq!(f_opts, [0x22, 0xac, 0x0a]);
/// ```
pub fn encrypt_f_opts(
    key: &Keyed<NwkSEncKey>,
    counter: FOptsCounter,
    dev_addr: DevAddr,
    f_cnt: u32,
    f_opts: &mut [u8],
) -> Result<(), CryptoError> {
    if f_opts.len() > 15 {
        return Err(CryptoError::FOptsLength { len: f_opts.len() });
    }
    let mut s = a_block(counter.a_tag(), counter.direction(), dev_addr, f_cnt);
    s[15] = 0x01;
    key.encrypt_block(&mut s);
    for (byte, k) in f_opts.iter_mut().zip(s) {
        *byte ^= k;
    }
    Ok(())
}

/// Decrypts the FOpts of a LoRaWAN 1.1 frame in place: the same operation as
/// [`encrypt_f_opts`].
///
/// # Errors
///
/// [`CryptoError::FOptsLength`] if `f_opts` is longer than 15 bytes.
pub fn decrypt_f_opts(
    key: &Keyed<NwkSEncKey>,
    counter: FOptsCounter,
    dev_addr: DevAddr,
    f_cnt: u32,
    f_opts: &mut [u8],
) -> Result<(), CryptoError> {
    encrypt_f_opts(key, counter, dev_addr, f_cnt, f_opts)
}

fn join_accept_blocks(payload: &mut [u8]) -> Result<&mut [[u8; 16]], CryptoError> {
    let len = payload.len();
    match payload.as_chunks_mut::<16>() {
        (blocks, []) if matches!(blocks.len(), 1 | 2) => Ok(blocks),
        _ => Err(CryptoError::JoinAcceptLength { len }),
    }
}

/// Encrypts a join-accept in place, as the network does:
/// `aes128_decrypt(key, JoinNonce | NetID | DevAddr | DLSettings | RxDelay | CFList | MIC)`,
/// where `payload` is everything after the MHDR, MIC included (16 or 32 bytes).
/// Compute the MIC first.
///
/// The key is the NwkKey (the AppKey of a LoRaWAN 1.0 device) when answering a
/// join-request, the JSEncKey when answering a rejoin-request.
///
/// # Errors
///
/// [`CryptoError::JoinAcceptLength`] unless `payload` is 16 or 32 bytes.
pub fn encrypt_join_accept<K: JoinAcceptKey>(
    key: &Keyed<K>,
    payload: &mut [u8],
) -> Result<(), CryptoError> {
    let blocks = join_accept_blocks(payload)?;
    key.decrypt_blocks(blocks);
    Ok(())
}

/// Decrypts a join-accept in place, as the device does, with AES *encryption*
/// (so that a device needs no AES decryption): the inverse of
/// [`encrypt_join_accept`]. Check the MIC afterwards.
///
/// # Errors
///
/// [`CryptoError::JoinAcceptLength`] unless `payload` is 16 or 32 bytes.
///
/// ```
/// use lorawan::crypto::{decrypt_join_accept, join_accept_mic_10};
/// use lorawan::keys::AppKey;
/// let key = "0102030405060708090a0b0c0d0e0f10".parse::<AppKey>().unwrap().keyed();
/// let mut frame = [0x20, 0x23, 0xcf, 0x33, 0x54, 0x89, 0xaa, 0xe3, 0x18,
///                  0x3c, 0x0b, 0xe0, 0xba, 0xa8, 0xde, 0xe5, 0xf3];
/// decrypt_join_accept(&key, &mut frame[1..]).unwrap();
/// let (msg, mic) = frame.split_at(13);
/// assert_eq!(join_accept_mic_10(&key, msg).to_be_bytes(), mic);
/// ```
pub fn decrypt_join_accept<K: JoinAcceptKey>(
    key: &Keyed<K>,
    payload: &mut [u8],
) -> Result<(), CryptoError> {
    let blocks = join_accept_blocks(payload)?;
    key.encrypt_blocks(blocks);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::join_accept_mic_10;
    use crate::crypto::tests::h;
    use crate::keys::{AppKey, AppSKey, NwkSKey};

    const DEV_ADDR: DevAddr = DevAddr::from_u32(0x0102_0304);

    #[test]
    fn frm_payload_uplink_decrypts_to_hello() {
        let key = AppSKey::from_be_bytes([1; 16]).keyed();
        let mut payload: [u8; 5] = h("a694642615");
        decrypt_frm_payload(&key, Direction::Uplink, DEV_ADDR, 1, &mut payload);
        assert_eq!(&payload, b"hello");
    }

    #[test]
    fn frm_payload_downlink_uses_the_32_bit_counter() {
        // FCnt 0x2aff in the frame, 76543 = 0x1_2aff in the A blocks.
        let key = AppSKey::from_be_bytes([1; 16]).keyed();
        let mut payload: [u8; 10] = h("0af1a36a05d0125f885d");
        decrypt_frm_payload(&key, Direction::Downlink, DEV_ADDR, 76543, &mut payload);
        assert_eq!(&payload, b"hello lora");
    }

    #[test]
    fn frm_payload_of_sixteen_blocks_decrypts() {
        let frame: [u8; 256] = h(crate::crypto::tests::LONG_UPLINK);
        let key = AppSKey::from_be_bytes([1; 16]).keyed();
        let mut payload: [u8; 243] = frame[9..252].try_into().unwrap();
        decrypt_frm_payload(&key, Direction::Uplink, DEV_ADDR, 0, &mut payload);
        assert!(payload.starts_with(b"Lorem ipsum dolor sit amet, consetetur"));
        assert!(payload.ends_with(b"Stet clita kasd gubergren, not"));
    }

    #[test]
    fn frm_payload_on_fport_0_uses_the_nwk_s_key() {
        let key = NwkSKey::from_be_bytes([1; 16]).keyed();
        let mut payload: [u8; 3] = h("69369e");
        decrypt_frm_payload(&key, Direction::Uplink, DEV_ADDR, 0, &mut payload);
        assert_eq!(payload, [0x02, 0x03, 0x05]); // LinkCheckReq, LinkADRAns
    }

    #[test]
    fn frm_payload_lrwn_confirmed_uplink_vector() {
        let key = AppSKey::from_be_bytes(h("100f0e0d0c0b0a090807060504030201")).keyed();
        let mut payload = [1, 2, 3, 4];
        encrypt_frm_payload(&key, Direction::Uplink, DEV_ADDR, 0, &mut payload);
        assert_eq!(payload, h::<4>("e264d4f7"));
    }

    #[test]
    fn f_opts_lrwn_downlink_vector_uses_afcntdown_block() {
        let key = NwkSEncKey::from_be_bytes(h("01010101010101010101010101010200")).keyed();
        let mut f_opts: [u8; 3] = h("22ac0a");
        decrypt_f_opts(&key, FOptsCounter::AFCntDown, DEV_ADDR, 0, &mut f_opts).unwrap();
        assert_eq!(f_opts, [0x02, 0x07, 0x01]);
        // NFCntDown and AFCntDown of equal value give different keystreams.
        let mut other: [u8; 3] = h("22ac0a");
        decrypt_f_opts(&key, FOptsCounter::NFCntDown, DEV_ADDR, 0, &mut other).unwrap();
        assert_ne!(other, [0x02, 0x07, 0x01]);
    }

    #[test]
    fn f_opts_counter_follows_fport() {
        assert_eq!(FOptsCounter::downlink(None), FOptsCounter::NFCntDown);
        assert_eq!(FOptsCounter::downlink(Some(0)), FOptsCounter::NFCntDown);
        assert_eq!(FOptsCounter::downlink(Some(1)), FOptsCounter::AFCntDown);
        assert_eq!(FOptsCounter::FCntUp.direction(), Direction::Uplink);
    }

    #[test]
    fn f_opts_longer_than_15_bytes_are_rejected() {
        let key = NwkSEncKey::from_be_bytes([0; 16]).keyed();
        let mut f_opts = [0; 16];
        assert_eq!(
            encrypt_f_opts(&key, FOptsCounter::FCntUp, DEV_ADDR, 0, &mut f_opts),
            Err(CryptoError::FOptsLength { len: 16 })
        );
        assert_eq!(f_opts, [0; 16]);
    }

    #[test]
    fn join_accept_lrwn_vector_encrypts_and_decrypts() {
        let key = AppKey::from_be_bytes(h("0102030405060708090a0b0c0d0e0f10")).keyed();
        let plain: [u8; 17] = h("200101010202020403020100003449f212");
        let wire: [u8; 17] = h("2023cf335489aae3183c0be0baa8dee5f3");
        let mut frame = plain;
        encrypt_join_accept(&key, &mut frame[1..]).unwrap();
        assert_eq!(frame, wire);
        decrypt_join_accept(&key, &mut frame[1..]).unwrap();
        assert_eq!(frame, plain);
    }

    #[test]
    fn join_accept_lora_rs_vector_decrypts() {
        let key = AppKey::from_be_bytes(h("00112233445566778899aabbccddeeff")).keyed();
        let mut frame: [u8; 17] = h("20493eeb51fba2116f810edb3742975142");
        decrypt_join_accept(&key, &mut frame[1..]).unwrap();
        assert_eq!(frame, h::<17>("20c70b5701112280190302000043485bbc"));
    }

    #[test]
    fn join_accept_with_cflist_decrypts_two_blocks_and_mic_checks() {
        let key = AppKey::from_be_bytes([1; 16]).keyed();
        let wire: [u8; 33] =
            h("20e45673b63cb4b9cecb2aa83f0333e615d2ac89eea1659837c3aa6df9689889cf");
        let mut frame = wire;
        decrypt_join_accept(&key, &mut frame[1..]).unwrap();
        assert_eq!(join_accept_mic_10(&key, &frame[..29]).0, frame[29..]);
        encrypt_join_accept(&key, &mut frame[1..]).unwrap();
        assert_eq!(frame, wire);
    }

    #[test]
    fn join_accept_of_other_lengths_is_rejected() {
        let key = AppKey::from_be_bytes([1; 16]).keyed();
        for len in [0, 15, 17, 31, 48] {
            let mut buf = [0u8; 48];
            assert_eq!(
                decrypt_join_accept(&key, &mut buf[..len]),
                Err(CryptoError::JoinAcceptLength { len })
            );
            assert_eq!(
                encrypt_join_accept(&key, &mut buf[..len]),
                Err(CryptoError::JoinAcceptLength { len })
            );
        }
    }
}
