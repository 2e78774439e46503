//! The keys a command was given: the `--*-key` flags (and the same names in an
//! encode JSON file), parsed into the key types of their roles.

use anyhow::{Result, bail};
use clap::Args;
use lorawan::Eui64;
use lorawan::crypto::{derive_js_enc_key, derive_js_int_key};
use lorawan::keys::{
    AppKey, AppSKey, FNwkSIntKey, JSEncKey, JSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey,
};
use serde::Deserialize;

use crate::input::{self, Version};

macro_rules! key_set {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty, $flag:literal; )*) => {
        /// The key flags as typed, 32 hex digits each.
        #[derive(Debug, Clone, Default, Args, Deserialize)]
        #[serde(default)]
        pub(crate) struct KeyArgs {
            $(
                $(#[$doc])*
                #[arg(long, value_name = "HEX")]
                pub(crate) $field: Option<String>,
            )*
        }

        /// The keys, parsed.
        #[derive(Debug, Clone, Copy, Default)]
        pub(crate) struct Keys {
            $( pub(crate) $field: Option<$ty>, )*
        }

        impl Keys {
            /// Parses the flags; errors name the flag.
            pub(crate) fn from_flags(args: &KeyArgs) -> Result<Self> {
                Ok(Self {
                    $( $field: input::opt_hex($flag, args.$field.as_deref())?, )*
                })
            }

            /// Parses the fields of a JSON file; errors name the field.
            pub(crate) fn from_json(args: &KeyArgs) -> Result<Self> {
                Ok(Self {
                    $( $field: input::opt_hex(stringify!($field), args.$field.as_deref())?, )*
                })
            }

            /// These keys, with the missing ones taken from `other`.
            pub(crate) fn or(self, other: Self) -> Self {
                Self {
                    $( $field: self.$field.or(other.$field), )*
                }
            }
        }
    };
}

key_set! {
    /// AppKey: the LoRaWAN 1.0 root key (join MICs, join-accept encryption,
    /// session keys); in 1.1 the root of the AppSKey.
    app_key: AppKey, "--app-key";
    /// NwkKey: the LoRaWAN 1.1 root key of the network keys and join-accepts.
    nwk_key: NwkKey, "--nwk-key";
    /// NwkSKey: the LoRaWAN 1.0 network session key (MIC, FPort 0 payloads).
    nwk_s_key: NwkSKey, "--nwk-s-key";
    /// AppSKey: the application session key (FRMPayload of FPort 1..=255).
    app_s_key: AppSKey, "--app-s-key";
    /// FNwkSIntKey: LoRaWAN 1.1 uplink MIC (cmacF half).
    f_nwk_s_int_key: FNwkSIntKey, "--f-nwk-s-int-key";
    /// SNwkSIntKey: LoRaWAN 1.1 uplink MIC (cmacS half), downlink MIC,
    /// rejoin-request type 0/2 MIC.
    s_nwk_s_int_key: SNwkSIntKey, "--s-nwk-s-int-key";
    /// NwkSEncKey: LoRaWAN 1.1 FOpts and FPort 0 payload encryption.
    nwk_s_enc_key: NwkSEncKey, "--nwk-s-enc-key";
    /// JSIntKey (else derived from --nwk-key and --dev-eui): 1.1 join-accept
    /// MIC with OptNeg, rejoin-request type 1 MIC.
    js_int_key: JSIntKey, "--js-int-key";
    /// JSEncKey (else derived from --nwk-key and --dev-eui): encryption of a
    /// join-accept answering a rejoin-request.
    js_enc_key: JSEncKey, "--js-enc-key";
}

impl Keys {
    /// Whether any LoRaWAN 1.1 session key was given.
    pub(crate) fn has_11_session_keys(&self) -> bool {
        self.f_nwk_s_int_key.is_some()
            || self.s_nwk_s_int_key.is_some()
            || self.nwk_s_enc_key.is_some()
    }

    /// The version whose session keys apply to a data frame: the one asked for,
    /// else 1.1 if a 1.1 session key was given, else 1.0. Keys of the other
    /// version are refused rather than silently ignored.
    pub(crate) fn data_version(&self, asked: Option<Version>) -> Result<Version> {
        let version = asked.unwrap_or(if self.has_11_session_keys() {
            Version::V11
        } else {
            Version::V10
        });
        match version {
            Version::V10 if self.has_11_session_keys() => bail!(
                "--f-nwk-s-int-key, --s-nwk-s-int-key and --nwk-s-enc-key are LoRaWAN 1.1 keys: \
                 with --lorawan 1.0 give --nwk-s-key"
            ),
            Version::V11 if self.nwk_s_key.is_some() => bail!(
                "--nwk-s-key is a LoRaWAN 1.0 key: with --lorawan 1.1 give --f-nwk-s-int-key, \
                 --s-nwk-s-int-key and --nwk-s-enc-key"
            ),
            v => Ok(v),
        }
    }

    /// The JSIntKey: given, or derived from the NwkKey and the DevEUI.
    pub(crate) fn js_int_key(&self, dev_eui: Option<Eui64>) -> Option<JSIntKey> {
        self.js_int_key.or_else(|| {
            let (nwk_key, dev_eui) = (self.nwk_key?, dev_eui?);
            Some(derive_js_int_key(&nwk_key.keyed(), dev_eui))
        })
    }

    /// The JSEncKey: given, or derived from the NwkKey and the DevEUI.
    pub(crate) fn js_enc_key(&self, dev_eui: Option<Eui64>) -> Option<JSEncKey> {
        self.js_enc_key.or_else(|| {
            let (nwk_key, dev_eui) = (self.nwk_key?, dev_eui?);
            Some(derive_js_enc_key(&nwk_key.keyed(), dev_eui))
        })
    }
}
