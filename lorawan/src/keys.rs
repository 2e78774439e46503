//! AES-128 keys, one type per role so that an `AppSKey` can never be passed where an
//! `NwkSKey` belongs.
//!
//! Keys are written, parsed and stored in byte order (no reversal on the wire).
//! `Debug` hides the key material; `Display` prints it as hex on purpose.
//!
//! ```
//! use lorawan::keys::{AesKey, AppKey};
//! let key: AppKey = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
//! assert_eq!(key.as_bytes()[15], 0x0f);
//! assert_eq!(format!("{key:?}"), "AppKey(..)");
//! ```

use crate::hex::hex_text;

mod sealed {
    pub trait Sealed {}
}

/// Common behaviour of every key role.
pub trait AesKey: sealed::Sealed + Copy + Eq {
    /// The role name, as the LoRaWAN specification writes it.
    const ROLE: &'static str;
    /// The key from its 16 bytes.
    fn from_bytes(bytes: [u8; 16]) -> Self;
    /// The 16 key bytes.
    fn as_bytes(&self) -> &[u8; 16];
}

macro_rules! aes_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The key from its 16 bytes.
            pub const fn from_be_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
            /// The 16 key bytes.
            pub const fn to_be_bytes(self) -> [u8; 16] {
                self.0
            }
        }

        impl sealed::Sealed for $name {}

        impl AesKey for $name {
            const ROLE: &'static str = stringify!($name);
            fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
            fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl From<[u8; 16]> for $name {
            fn from(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }

        hex_text!($name, 16);
    };
}

aes_key!(
    /// The root key of LoRaWAN 1.0 OTAA; in 1.1 the root of the application keys.
    AppKey
);
aes_key!(
    /// The LoRaWAN 1.1 root key of the network keys (plays AppKey's network role in 1.0.x-compatible joins).
    NwkKey
);
aes_key!(
    /// Application session key: encrypts FRMPayload on FPort 1..=255.
    AppSKey
);
aes_key!(
    /// LoRaWAN 1.0 network session key: MICs and FPort 0 encryption.
    NwkSKey
);
aes_key!(
    /// LoRaWAN 1.1 forwarding network session integrity key (uplink MIC, cmacF).
    FNwkSIntKey
);
aes_key!(
    /// LoRaWAN 1.1 serving network session integrity key (uplink cmacS and downlink MIC).
    SNwkSIntKey
);
aes_key!(
    /// LoRaWAN 1.1 network session encryption key (FOpts and FPort 0 payloads).
    NwkSEncKey
);
aes_key!(
    /// LoRaWAN 1.1 join-server integrity key (join-accept MIC for rejoins and OptNeg).
    JSIntKey
);
aes_key!(
    /// LoRaWAN 1.1 join-server encryption key (join-accept answering a rejoin-request).
    JSEncKey
);
aes_key!(
    /// An AES-128 key-encryption key (KEK) for RFC 3394 key envelopes.
    Kek
);
aes_key!(
    /// TS011 relay: the root of a device's wake-on-radio session keys, derived
    /// from its NwkSEncKey (NwkSKey in 1.0) and handed to a relay in
    /// UpdateUplinkListReq.
    RootWorSKey
);

impl NwkSKey {
    /// In LoRaWAN 1.0 one key plays every network role of 1.1: this is its
    /// FNwkSIntKey view, for code that speaks 1.1 key roles throughout.
    pub const fn as_f_nwk_s_int_key(self) -> FNwkSIntKey {
        FNwkSIntKey(self.0)
    }
    /// The SNwkSIntKey role of a LoRaWAN 1.0 NwkSKey.
    pub const fn as_s_nwk_s_int_key(self) -> SNwkSIntKey {
        SNwkSIntKey(self.0)
    }
    /// The NwkSEncKey role of a LoRaWAN 1.0 NwkSKey.
    pub const fn as_nwk_s_enc_key(self) -> NwkSEncKey {
        NwkSEncKey(self.0)
    }
}

impl AppKey {
    /// For a LoRaWAN 1.0 device the AppKey is also the key of the join MICs and
    /// join-accept encryption, the role NwkKey has in 1.1.
    pub const fn as_nwk_key(self) -> NwkKey {
        NwkKey(self.0)
    }
}
