//! Session-key derivation after a join: each key is the AES-128 encryption, with
//! a root key, of one block naming the key and the join it belongs to.

use super::{Keyed, RootKey};
use crate::keys::{
    AesKey, AppKey, AppSKey, FNwkSIntKey, JSEncKey, JSIntKey, NwkKey, NwkSEncKey, NwkSKey,
    RootWorSKey, SNwkSIntKey,
};
use crate::{DevNonce, Eui64, JoinNonce, NetId};

/// The session keys of a LoRaWAN 1.0 join, also those of a 1.1 device whose
/// join-accept had OptNeg unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKeys10 {
    /// The network session key.
    pub nwk_s_key: NwkSKey,
    /// The application session key.
    pub app_s_key: AppSKey,
}

/// The session keys of a LoRaWAN 1.1 join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKeys11 {
    /// The forwarding network session integrity key.
    pub f_nwk_s_int_key: FNwkSIntKey,
    /// The serving network session integrity key.
    pub s_nwk_s_int_key: SNwkSIntKey,
    /// The network session encryption key.
    pub nwk_s_enc_key: NwkSEncKey,
    /// The application session key.
    pub app_s_key: AppSKey,
}

impl From<SessionKeys10> for SessionKeys11 {
    /// The 1.1 roles of 1.0 keys: the NwkSKey in each network role, as the 1.1
    /// specification prescribes for a device that joined without OptNeg.
    fn from(keys: SessionKeys10) -> Self {
        Self {
            f_nwk_s_int_key: keys.nwk_s_key.as_f_nwk_s_int_key(),
            s_nwk_s_int_key: keys.nwk_s_key.as_s_nwk_s_int_key(),
            nwk_s_enc_key: keys.nwk_s_key.as_nwk_s_enc_key(),
            app_s_key: keys.app_s_key,
        }
    }
}

fn derive<R: AesKey, K: AesKey>(root: &Keyed<R>, mut block: [u8; 16]) -> K {
    root.encrypt_block(&mut block);
    K::from_bytes(block)
}

fn block_10(kind: u8, join_nonce: JoinNonce, net_id: NetId, dev_nonce: DevNonce) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[1..4].copy_from_slice(&join_nonce.to_le_bytes());
    b[4..7].copy_from_slice(&net_id.to_le_bytes());
    b[7..9].copy_from_slice(&dev_nonce.to_le_bytes());
    b
}

fn block_11(kind: u8, join_nonce: JoinNonce, join_eui: Eui64, dev_nonce: DevNonce) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[1..4].copy_from_slice(&join_nonce.to_le_bytes());
    b[4..12].copy_from_slice(&join_eui.to_le_bytes());
    b[12..14].copy_from_slice(&dev_nonce.to_le_bytes());
    b
}

fn block_js(kind: u8, dev_eui: Eui64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[1..9].copy_from_slice(&dev_eui.to_le_bytes());
    b
}

/// The session keys of a join without OptNeg:
/// `NwkSKey = aes128_encrypt(root, 0x01 | JoinNonce | NetID | DevNonce | pad16)` and
/// the AppSKey likewise with `0x02`.
///
/// The root key is the AppKey of a LoRaWAN 1.0 device, or the NwkKey of a 1.1
/// device that joined a 1.0 network (OptNeg unset); in the latter case turn the
/// result into 1.1 roles with [`SessionKeys11::from`].
///
/// ```
/// use lorawan::crypto::derive_session_keys_10;
/// use lorawan::keys::AppKey;
/// use lorawan::{DevNonce, JoinNonce, NetId};
/// let app_key: AppKey = "00112233445566778899aabbccddeeff".parse().unwrap();
/// let keys = derive_session_keys_10(
///     &app_key.keyed(),
///     JoinNonce::from_le_bytes([0xc7, 0x0b, 0x57]),
///     NetId::from_le_bytes([0x01, 0x11, 0x22]),
///     DevNonce::from_le_bytes([0xcc, 0xdd]),
/// );
/// assert_eq!(keys.nwk_s_key.to_string(), "406b1337d80753820540e280f81299e9");
/// assert_eq!(keys.app_s_key.to_string(), "4f5c409751841b6dfecbd38402237942");
/// ```
pub fn derive_session_keys_10<K: RootKey>(
    root_key: &Keyed<K>,
    join_nonce: JoinNonce,
    net_id: NetId,
    dev_nonce: DevNonce,
) -> SessionKeys10 {
    SessionKeys10 {
        nwk_s_key: derive(root_key, block_10(0x01, join_nonce, net_id, dev_nonce)),
        app_s_key: derive(root_key, block_10(0x02, join_nonce, net_id, dev_nonce)),
    }
}

/// The session keys of a LoRaWAN 1.1 join with OptNeg set: with
/// `x = JoinNonce | JoinEUI | DevNonce | pad16`,
/// `FNwkSIntKey = aes128_encrypt(NwkKey, 0x01 | x)`,
/// `AppSKey = aes128_encrypt(AppKey, 0x02 | x)`,
/// `SNwkSIntKey = aes128_encrypt(NwkKey, 0x03 | x)` and
/// `NwkSEncKey = aes128_encrypt(NwkKey, 0x04 | x)`.
///
/// `dev_nonce` is the DevNonce of the join-request, or for a rejoin-request its
/// RJcount0 (types 0 and 2) or RJcount1 (type 1).
pub fn derive_session_keys_11(
    nwk_key: &Keyed<NwkKey>,
    app_key: &Keyed<AppKey>,
    join_nonce: JoinNonce,
    join_eui: Eui64,
    dev_nonce: DevNonce,
) -> SessionKeys11 {
    let block = |kind| block_11(kind, join_nonce, join_eui, dev_nonce);
    SessionKeys11 {
        f_nwk_s_int_key: derive(nwk_key, block(0x01)),
        app_s_key: derive(app_key, block(0x02)),
        s_nwk_s_int_key: derive(nwk_key, block(0x03)),
        nwk_s_enc_key: derive(nwk_key, block(0x04)),
    }
}

/// The LoRaWAN 1.1 join-server integrity key of a device:
/// `JSIntKey = aes128_encrypt(NwkKey, 0x06 | DevEUI | pad16)`. It keys the MIC of
/// join-accepts with OptNeg and of rejoin-requests of type 1.
pub fn derive_js_int_key(nwk_key: &Keyed<NwkKey>, dev_eui: Eui64) -> JSIntKey {
    derive(nwk_key, block_js(0x06, dev_eui))
}

/// The LoRaWAN 1.1 join-server encryption key of a device:
/// `JSEncKey = aes128_encrypt(NwkKey, 0x05 | DevEUI | pad16)`. It encrypts the
/// join-accepts that answer rejoin-requests.
pub fn derive_js_enc_key(nwk_key: &Keyed<NwkKey>, dev_eui: Eui64) -> JSEncKey {
    derive(nwk_key, block_js(0x05, dev_eui))
}

/// The TS011 relay root key of a device's wake-on-radio session keys:
/// `RootWorSKey = aes128_encrypt(NwkSEncKey, 0x01 | pad16)`. A LoRaWAN 1.0
/// device's NwkSKey plays the NwkSEncKey role (see [`NwkSKey::as_nwk_s_enc_key`]).
pub fn derive_root_wor_s_key(nwk_s_enc_key: &Keyed<NwkSEncKey>) -> RootWorSKey {
    let mut block = [0u8; 16];
    block[0] = 0x01;
    derive(nwk_s_enc_key, block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::tests::h;

    // The inputs of lrwn's keys.rs tests.
    fn nwk_key() -> Keyed<NwkKey> {
        NwkKey::from_be_bytes(h("01020304050607080102030405060708")).keyed()
    }
    fn join_eui() -> Eui64 {
        "0807060504030201".parse().unwrap()
    }
    fn join_nonce() -> JoinNonce {
        JoinNonce::from_u32(65536).unwrap()
    }
    const DEV_NONCE: DevNonce = DevNonce(258);

    #[test]
    fn lorawan_1_0_keys_match_lrwn_vector() {
        let net_id: NetId = "010203".parse().unwrap();
        let keys = derive_session_keys_10(&nwk_key(), join_nonce(), net_id, DEV_NONCE);
        assert_eq!(
            keys.nwk_s_key.to_string(),
            "df53c35f3034ccced0ff354c70de04df"
        );
        assert_eq!(
            keys.app_s_key.to_string(),
            "927b9c911183cffe4cb2ff4b75545f6d"
        );
        // TS011 relay root key from the same NwkSKey (lrwn's vector).
        let nwk_s_enc_key = keys.nwk_s_key.as_nwk_s_enc_key().keyed();
        assert_eq!(
            derive_root_wor_s_key(&nwk_s_enc_key).to_string(),
            "60f8acd9de2cc506fb06639408fe574a"
        );
    }

    #[test]
    fn lorawan_1_0_keys_match_lora_rs_vectors() {
        let app_key = AppKey::from_be_bytes(h("00112233445566778899aabbccddeeff")).keyed();
        let join_nonce = JoinNonce::from_le_bytes([0xc7, 0x0b, 0x57]);
        let net_id = NetId::from_le_bytes([0x01, 0x11, 0x22]);
        let keys = derive_session_keys_10(
            &app_key,
            join_nonce,
            net_id,
            DevNonce::from_le_bytes([0x2d, 0x10]),
        );
        assert_eq!(
            keys.nwk_s_key.to_string(),
            "7bb25f89e0d1371e1fbf4d997e1468a3"
        );
        assert_eq!(
            keys.app_s_key.to_string(),
            "148820dfb1e0c9d6289cde16c1af249f"
        );
        let keys = derive_session_keys_10(
            &app_key,
            join_nonce,
            net_id,
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
    fn lorawan_1_1_keys_match_lrwn_vector() {
        let app_key = AppKey::from_be_bytes([0; 16]).keyed();
        let keys =
            derive_session_keys_11(&nwk_key(), &app_key, join_nonce(), join_eui(), DEV_NONCE);
        assert_eq!(
            keys.app_s_key.to_string(),
            "01621215d1ca08febf0c602cc2ad90fa"
        );
        assert_eq!(
            keys.f_nwk_s_int_key.to_string(),
            "537f8aae896c79e015d102d06286354e"
        );
        assert_eq!(
            keys.s_nwk_s_int_key.to_string(),
            "589498993092cfdb5fd2e02ac7510bf1"
        );
        assert_eq!(
            keys.nwk_s_enc_key.to_string(),
            "9898283c4f66eb6c6fd5165882046c40"
        );
    }

    #[test]
    fn join_server_keys_match_independent_aes_computation() {
        // Values computed with Python `cryptography` (AES-128-ECB of the blocks).
        let dev_eui = join_eui();
        assert_eq!(
            derive_js_enc_key(&nwk_key(), dev_eui).to_string(),
            "18cfe1da209c63a81e8aa4f3934e0e74"
        );
        assert_eq!(
            derive_js_int_key(&nwk_key(), dev_eui).to_string(),
            "3faf4a732f65bdcaa0b2429db14db94a"
        );
    }

    #[test]
    fn keys_of_a_1_0_join_take_every_1_1_network_role() {
        let keys = SessionKeys10 {
            nwk_s_key: NwkSKey::from_be_bytes([7; 16]),
            app_s_key: AppSKey::from_be_bytes([9; 16]),
        };
        let roles = SessionKeys11::from(keys);
        assert_eq!(roles.f_nwk_s_int_key.to_be_bytes(), [7; 16]);
        assert_eq!(roles.s_nwk_s_int_key.to_be_bytes(), [7; 16]);
        assert_eq!(roles.nwk_s_enc_key.to_be_bytes(), [7; 16]);
        assert_eq!(roles.app_s_key, keys.app_s_key);
    }
}
