//! The cryptography of LoRaWAN 1.0.x and 1.1 over raw bytes: message integrity
//! codes, payload encryption, session-key derivation and RFC 3394 key wrapping.
//!
//! Every function takes a [`Keyed`] key (the AES key schedule and CMAC subkeys
//! computed once, to be kept for the life of a session) and the bytes the
//! specification names; none panics, and none allocates but the `*_to_vec`
//! helpers. The frame views of this crate call them on the right slices; use them
//! directly to build or check frames by hand.
//!
//! Key roles are types, and each function accepts only the roles the
//! specification allows: a MIC over an uplink of LoRaWAN 1.1 needs an
//! [`FNwkSIntKey`](crate::keys::FNwkSIntKey) and an [`SNwkSIntKey`], FRMPayload
//! encryption any [`PayloadKey`], key derivation for 1.0 any [`RootKey`].
//!
//! ```
//! use lorawan::crypto;
//! use lorawan::keys::{AppSKey, NwkSKey};
//! use lorawan::{DevAddr, Direction};
//!
//! // An unconfirmed uplink: MHDR | FHDR | FPort | FRMPayload, then the MIC.
//! let frame = [0x40, 0x04, 0x03, 0x02, 0x01, 0x80, 0x01, 0x00, 0x01,
//!              0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6, 0xc3, 0xb5, 0x82];
//! let (msg, mic) = frame.split_at(frame.len() - 4);
//! let dev_addr = DevAddr::from_u32(0x0102_0304);
//!
//! let nwk_s_key = NwkSKey::from_be_bytes([2; 16]).keyed();
//! let computed = crypto::data_uplink_mic_10(&nwk_s_key, dev_addr, 1, msg);
//! assert_eq!(computed.to_be_bytes(), mic);
//!
//! let app_s_key = AppSKey::from_be_bytes([1; 16]).keyed();
//! let mut payload = msg[9..].to_vec();
//! crypto::decrypt_frm_payload(&app_s_key, Direction::Uplink, dev_addr, 1, &mut payload);
//! assert_eq!(payload, b"hello");
//! ```

mod derive;
mod encrypt;
mod key_wrap;
mod keyed;
mod mic;

pub use derive::{
    SessionKeys10, SessionKeys11, derive_js_enc_key, derive_js_int_key, derive_root_wor_s_key,
    derive_session_keys_10, derive_session_keys_11,
};
pub use encrypt::{
    FOptsCounter, decrypt_f_opts, decrypt_frm_payload, decrypt_join_accept, encrypt_f_opts,
    encrypt_frm_payload, encrypt_join_accept,
};
pub use key_wrap::{key_unwrap, key_wrap, unwrap_aes_key, wrap_aes_key};
#[cfg(feature = "alloc")]
pub use key_wrap::{key_unwrap_to_vec, key_wrap_to_vec};
pub use keyed::Keyed;
pub use mic::{
    B1Fields, data_downlink_mic_10, data_downlink_mic_11, data_uplink_cmac_f, data_uplink_mic_10,
    data_uplink_mic_11, join_accept_mic_10, join_accept_mic_11, join_request_mic,
    rejoin_request_mic,
};

use crate::keys::{
    AesKey, AppKey, AppSKey, JSEncKey, JSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey,
};

/// A cryptographic operation could not be done on the bytes given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Key data to wrap must be a multiple of 8 bytes and at least 16 bytes; a
    /// wrapped key a multiple of 8 and at least 24.
    #[error("invalid key-wrap length {len}: must be a multiple of 8, at least {min}")]
    KeyWrapLength {
        /// The length given.
        len: usize,
        /// The least length allowed.
        min: usize,
    },
    /// The wrapped key did not unwrap to the RFC 3394 initial value: wrong KEK or
    /// altered data.
    #[error("key unwrap integrity check failed")]
    IntegrityCheckFailed,
    /// The output buffer cannot hold the result.
    #[error("output buffer too small: {needed} bytes needed, {got} given")]
    BufferTooSmall {
        /// Bytes the result needs.
        needed: usize,
        /// Bytes the buffer has.
        got: usize,
    },
    /// A join-accept after its MHDR, MIC included, is 16 or 32 bytes.
    #[error("invalid join-accept length {len}: must be 16 or 32")]
    JoinAcceptLength {
        /// The length given.
        len: usize,
    },
    /// FOpts hold at most 15 bytes.
    #[error("FOpts of {len} bytes: at most 15 allowed")]
    FOptsLength {
        /// The length given.
        len: usize,
    },
}

mod sealed {
    pub trait Sealed {}
}

/// Keys that encrypt an FRMPayload: [`AppSKey`] (FPort 1..=255), and
/// [`NwkSKey`] (LoRaWAN 1.0) or [`NwkSEncKey`] (1.1) for FPort 0.
pub trait PayloadKey: AesKey + sealed::Sealed {}

/// Root keys of over-the-air activation: [`NwkKey`] (LoRaWAN 1.1), and
/// [`AppKey`], which plays its role for a LoRaWAN 1.0 device. They key the
/// join-request MIC, the join-accept MIC without OptNeg, the join-accept
/// encryption and the LoRaWAN 1.0 session-key derivation.
pub trait RootKey: AesKey + sealed::Sealed {}

/// Keys that encrypt a join-accept: a [`RootKey`] when answering a join-request,
/// [`JSEncKey`] when answering a rejoin-request (LoRaWAN 1.1).
pub trait JoinAcceptKey: AesKey + sealed::Sealed {}

/// Keys of a rejoin-request MIC (LoRaWAN 1.1): [`SNwkSIntKey`] for types 0 and 2,
/// [`JSIntKey`] for type 1.
pub trait RejoinMicKey: AesKey + sealed::Sealed {}

macro_rules! roles {
    ($trait:ident: $($key:ident),*) => {$(
        impl $trait for $key {}
    )*};
}

roles!(PayloadKey: AppSKey, NwkSKey, NwkSEncKey);
roles!(RootKey: AppKey, NwkKey);
roles!(JoinAcceptKey: AppKey, NwkKey, JSEncKey);
roles!(RejoinMicKey: SNwkSIntKey, JSIntKey);

impl sealed::Sealed for AppKey {}
impl sealed::Sealed for NwkKey {}
impl sealed::Sealed for AppSKey {}
impl sealed::Sealed for NwkSKey {}
impl sealed::Sealed for NwkSEncKey {}
impl sealed::Sealed for SNwkSIntKey {}
impl sealed::Sealed for JSIntKey {}
impl sealed::Sealed for JSEncKey {}

#[cfg(test)]
pub(crate) mod tests {
    /// A 256-byte 1.0 uplink from lora-rs (NwkSKey `02`×16, AppSKey `01`×16,
    /// DevAddr 01020304, FCnt 0, FPort 1): 243 bytes of FRMPayload.
    pub(crate) const LONG_UPLINK: &str = "400403020100000001275ae9942a58322148bad6ca7d746e774af8667a7b72364be4e19d2f5c23984fe25e8e2ddbd515b54ebe80cec21cd65a88130fbe6d04aab2bc39abbed9e873efc785e5655d6272f8796b1e839f2b1bdeaba2016c7ef9169d51f4ea261bc6089c83b33c6f30a73ce13c52557c46d791e7e01b39e0b89c1d2e3508841b67e3ec886f96eb0e111640d3c194f12149ab584bd931dc15fc119497dccbf2b5b916b85242963341a58bb5877bd5af9ee42d8b6f484585a6f9cbaff72ee10942e1238c98d7bfe7ca0b2db2248db91cd23a71c6db9b768cf7ef17f051cf423e73477abc9b0ff062de1e85202992ddca583744190c4ff7e1b42ea3cc";

    /// Bytes of any length from hex text.
    pub(crate) fn hv(s: &str) -> alloc::vec::Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector hex"))
            .collect()
    }

    /// Bytes from hex text, for known-answer vectors.
    pub(crate) fn h<const N: usize>(s: &str) -> [u8; N] {
        crate::hex::decode::<N>(s).expect("test vector hex")
    }
}
