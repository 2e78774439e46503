//! What `decode` and `keys` found, as plain data: serialised as is for `--json`
//! and rendered as text by [`crate::output`].
//!
//! Byte fields are lowercase hex strings; identifiers, nonces and keys are
//! written most significant byte first, as people write them.

use lorawan::keys::{AppSKey, FNwkSIntKey, JSEncKey, JSIntKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::{DevAddr, DevNonce, Eui64, Hex, JoinNonce, Mic, NetId};
use serde::Serialize;

/// Lowercase hex of a byte slice.
pub(crate) fn hex(bytes: &[u8]) -> String {
    Hex(bytes).to_string()
}

/// A decoded frame.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// The whole PHYPayload.
    pub(crate) phy_payload: String,
    /// Its length in bytes.
    pub(crate) length: usize,
    /// The MHDR byte.
    pub(crate) mhdr: String,
    /// The MType, as the specification names it.
    pub(crate) mtype: &'static str,
    /// The major version bits (0: LoRaWAN R1).
    pub(crate) major: u8,
    /// `uplink` or `downlink`; absent for proprietary frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) direction: Option<&'static str>,
    /// The fields of the frame type.
    #[serde(flatten)]
    pub(crate) frame: FrameReport,
    /// Remarks: what could not be checked and why, assumptions made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) notes: Vec<String>,
}

/// The fields of one frame type.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum FrameReport {
    /// A data frame.
    Data(Box<DataReport>),
    /// A join-request.
    JoinRequest(JoinRequestReport),
    /// A join-accept.
    JoinAccept(Box<JoinAcceptReport>),
    /// A rejoin-request.
    RejoinRequest(RejoinReport),
    /// A proprietary frame.
    Proprietary {
        /// Everything after the MHDR.
        payload: String,
    },
}

/// How a DevAddr splits into the prefix of a NetID type, NwkID and NwkAddr.
#[derive(Debug, Serialize)]
pub(crate) struct DevAddrInfo {
    /// The NetID type (0 to 7) of the address prefix; absent for the reserved prefix.
    pub(crate) net_id_type: Option<u8>,
    /// The NwkID bits after the prefix.
    pub(crate) nwk_id: Option<u32>,
    /// The NwkAddr bits.
    pub(crate) nwk_addr: Option<u32>,
}

impl DevAddrInfo {
    /// The split of `addr`.
    pub(crate) fn of(addr: DevAddr) -> Self {
        Self {
            net_id_type: addr.net_id_type(),
            nwk_id: addr.nwk_id(),
            nwk_addr: addr.nwk_addr(),
        }
    }
}

/// The result of checking a MIC.
#[derive(Debug, Default, Serialize)]
pub(crate) struct MicCheck {
    /// `true` or `false` when checked, `null` when not.
    pub(crate) valid: Option<bool>,
    /// The key (role) used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    /// The MIC the key gives, when it differs from the frame's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) computed: Option<Mic>,
    /// Why it was not checked, or what part was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl MicCheck {
    /// Not checked, for the reason given.
    pub(crate) fn not_checked(note: impl Into<String>) -> Self {
        Self {
            note: Some(note.into()),
            ..Self::default()
        }
    }
}

/// The FCtrl byte and its bits.
#[derive(Debug, Serialize)]
pub(crate) struct FCtrlReport {
    /// The byte.
    pub(crate) byte: String,
    /// ADR.
    pub(crate) adr: bool,
    /// ADRACKReq (uplink only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) adr_ack_req: Option<bool>,
    /// ACK.
    pub(crate) ack: bool,
    /// ClassB (uplink only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) class_b: Option<bool>,
    /// FPending (downlink only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) f_pending: Option<bool>,
    /// FOptsLen.
    pub(crate) f_opts_len: u8,
}

/// A decrypted FRMPayload.
#[derive(Debug, Serialize)]
pub(crate) struct PayloadReport {
    /// The plaintext.
    pub(crate) hex: String,
    /// The plaintext as text, when it is printable UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    /// The key that decrypted it.
    pub(crate) key: &'static str,
}

/// One MAC command, or the error that stopped reading them.
#[derive(Debug, Serialize)]
pub(crate) struct MacReport {
    /// Where it was: `FOpts` or `FRMPayload`.
    pub(crate) source: &'static str,
    /// The CID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cid: Option<String>,
    /// The command's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<&'static str>,
    /// CID and payload bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bytes: Option<String>,
    /// The decoded fields (an object; empty for a command without payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<serde_json::Value>,
    /// Why reading stopped here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// A data frame.
#[derive(Debug, Serialize)]
pub(crate) struct DataReport {
    /// The LoRaWAN version whose rules were applied.
    pub(crate) lorawan: &'static str,
    /// DevAddr.
    pub(crate) dev_addr: DevAddr,
    /// The NetID type, NwkID and NwkAddr of the DevAddr.
    pub(crate) dev_addr_info: DevAddrInfo,
    /// FCtrl.
    pub(crate) fctrl: FCtrlReport,
    /// The 16-bit FCnt carried.
    pub(crate) fcnt: u16,
    /// The full 32-bit counter used for the MIC and decryption.
    pub(crate) fcnt_full: u32,
    /// FOpts as carried (encrypted in LoRaWAN 1.1).
    pub(crate) fopts: String,
    /// FOpts decrypted with the NwkSEncKey (LoRaWAN 1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fopts_decrypted: Option<String>,
    /// FPort.
    pub(crate) fport: Option<u8>,
    /// FRMPayload as carried (encrypted).
    pub(crate) frm_payload: String,
    /// The MIC carried.
    pub(crate) mic: Mic,
    /// Whether it is the MIC of the keys given.
    pub(crate) mic_check: MicCheck,
    /// The decrypted FRMPayload.
    pub(crate) payload: Option<PayloadReport>,
    /// MAC commands read from FOpts or an FPort 0 payload.
    pub(crate) mac_commands: Vec<MacReport>,
}

/// A join-request.
#[derive(Debug, Serialize)]
pub(crate) struct JoinRequestReport {
    /// JoinEUI (AppEUI in 1.0).
    pub(crate) join_eui: Eui64,
    /// DevEUI.
    pub(crate) dev_eui: Eui64,
    /// DevNonce, most significant byte first.
    pub(crate) dev_nonce: DevNonce,
    /// The MIC carried.
    pub(crate) mic: Mic,
    /// Whether it is the MIC of the key given.
    pub(crate) mic_check: MicCheck,
}

/// DLSettings and its fields.
#[derive(Debug, Serialize)]
pub(crate) struct DlSettingsReport {
    /// The byte.
    pub(crate) byte: String,
    /// OptNeg (LoRaWAN 1.1 network).
    pub(crate) opt_neg: bool,
    /// RX1DROffset.
    pub(crate) rx1_dr_offset: u8,
    /// RX2DataRate.
    pub(crate) rx2_data_rate: u8,
}

/// RxDelay.
#[derive(Debug, Serialize)]
pub(crate) struct RxDelayReport {
    /// The byte.
    pub(crate) byte: String,
    /// The RX1 delay in seconds.
    pub(crate) seconds: u8,
}

/// A CFList.
#[derive(Debug, Serialize)]
pub(crate) struct CfListReport {
    /// `frequencies`, `channel_masks` or `reserved`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The 16 bytes.
    pub(crate) bytes: String,
    /// Type 0: five frequencies in Hz (0: unused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frequencies: Option<[u32; 5]>,
    /// Type 1: ChMask0..ChMask4, as 4 hex digits each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) channel_masks: Option<Vec<String>>,
}

/// The fields of a decrypted join-accept.
#[derive(Debug, Serialize)]
pub(crate) struct JoinAcceptFields {
    /// The plaintext, MHDR to MIC.
    pub(crate) plaintext: String,
    /// JoinNonce (AppNonce in 1.0).
    pub(crate) join_nonce: JoinNonce,
    /// Home_NetID.
    pub(crate) home_net_id: NetId,
    /// The assigned DevAddr.
    pub(crate) dev_addr: DevAddr,
    /// Its NetID type, NwkID and NwkAddr.
    pub(crate) dev_addr_info: DevAddrInfo,
    /// DLSettings.
    pub(crate) dl_settings: DlSettingsReport,
    /// RxDelay.
    pub(crate) rx_delay: RxDelayReport,
    /// The CFList.
    pub(crate) cf_list: Option<CfListReport>,
    /// The MIC carried.
    pub(crate) mic: Mic,
}

/// A join-accept.
#[derive(Debug, Serialize)]
pub(crate) struct JoinAcceptReport {
    /// Everything after the MHDR, as carried (encrypted).
    pub(crate) encrypted: String,
    /// The key that decrypted it; absent when no key was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) decrypted_with: Option<&'static str>,
    /// The fields, when decrypted.
    #[serde(flatten)]
    pub(crate) fields: Option<JoinAcceptFields>,
    /// Whether the MIC is valid.
    pub(crate) mic_check: MicCheck,
    /// The session keys, when the inputs of their derivation were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_keys: Option<SessionKeysReport>,
}

/// A rejoin-request.
#[derive(Debug, Serialize)]
pub(crate) struct RejoinReport {
    /// 0, 1 or 2.
    pub(crate) rejoin_type: u8,
    /// NetID (types 0 and 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) net_id: Option<NetId>,
    /// JoinEUI (type 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) join_eui: Option<Eui64>,
    /// DevEUI.
    pub(crate) dev_eui: Eui64,
    /// RJcount0 (types 0 and 2) or RJcount1 (type 1).
    pub(crate) rj_count: u16,
    /// The MIC carried.
    pub(crate) mic: Mic,
    /// Whether it is the MIC of the key given.
    pub(crate) mic_check: MicCheck,
}

/// Session keys derived after a join.
#[derive(Debug, Default, Serialize)]
pub(crate) struct SessionKeysReport {
    /// The LoRaWAN version of the derivation.
    pub(crate) lorawan: &'static str,
    /// NwkSKey (1.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nwk_s_key: Option<NwkSKey>,
    /// FNwkSIntKey (1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) f_nwk_s_int_key: Option<FNwkSIntKey>,
    /// SNwkSIntKey (1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) s_nwk_s_int_key: Option<SNwkSIntKey>,
    /// NwkSEncKey (1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) nwk_s_enc_key: Option<NwkSEncKey>,
    /// AppSKey.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) app_s_key: Option<AppSKey>,
    /// JSIntKey (1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) js_int_key: Option<JSIntKey>,
    /// JSEncKey (1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) js_enc_key: Option<JSEncKey>,
}
