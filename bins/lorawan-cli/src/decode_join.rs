//! Decoding of join-requests, join-accepts and rejoin-requests.

use lorawan::DevNonce;
use lorawan::crypto::{derive_session_keys_10, derive_session_keys_11};
use lorawan::keys::{AppKey, NwkKey};
use lorawan::phy::{
    CfList, CfListType, EncryptedJoinAccept, FrameError, JoinAccept, JoinRequest, JoinType,
    RejoinRequest,
};

use crate::decode::{Context, checked};
use crate::input::Version;
use crate::report::{
    CfListReport, DevAddrInfo, DlSettingsReport, JoinAcceptFields, JoinAcceptReport,
    JoinRequestReport, MicCheck, RejoinReport, RxDelayReport, SessionKeysReport, hex,
};

/// The root key that signs join-requests and join-accepts without OptNeg, and
/// encrypts join-accepts answering a join-request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Root {
    /// LoRaWAN 1.0.
    App(AppKey),
    /// LoRaWAN 1.1.
    Nwk(NwkKey),
}

impl Root {
    /// The key's role name.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::App(_) => "AppKey",
            Self::Nwk(_) => "NwkKey",
        }
    }

    /// Decrypts a join-accept with this key.
    pub(crate) fn decrypt(self, enc: &EncryptedJoinAccept<'_>) -> JoinAccept {
        match self {
            Self::App(k) => enc.decrypt(&k.keyed()),
            Self::Nwk(k) => enc.decrypt(&k.keyed()),
        }
    }

    /// Checks the MIC of a join-accept without OptNeg.
    pub(crate) fn verify_mic_10(self, ja: &JoinAccept) -> Result<(), FrameError> {
        match self {
            Self::App(k) => ja.verify_mic_10(&k.keyed()),
            Self::Nwk(k) => ja.verify_mic_10(&k.keyed()),
        }
    }

    /// Checks the MIC of a join-request.
    fn verify_join_request(self, j: &JoinRequest<'_>) -> Result<(), FrameError> {
        match self {
            Self::App(k) => j.verify_mic(&k.keyed()),
            Self::Nwk(k) => j.verify_mic(&k.keyed()),
        }
    }
}

/// The root key a join frame is checked with: the NwkKey for LoRaWAN 1.1 (asked
/// for, or given without `--lorawan 1.0`), else the AppKey.
fn root_key(ctx: &Context) -> Option<Root> {
    let nwk = ctx.keys.nwk_key.map(Root::Nwk);
    let app = ctx.keys.app_key.map(Root::App);
    match ctx.lorawan {
        Some(Version::V10) => app,
        Some(Version::V11) => nwk,
        None => nwk.or(app),
    }
}

const ROOT_HINT: &str = "no key given: give --app-key (LoRaWAN 1.0) or --nwk-key (1.1)";

/// A join-request.
pub(crate) fn join_request(j: JoinRequest<'_>, ctx: &Context) -> JoinRequestReport {
    let mic_check = match root_key(ctx) {
        Some(root) => checked(root.verify_join_request(&j), root.name()),
        None => MicCheck::not_checked(ROOT_HINT),
    };
    JoinRequestReport {
        join_eui: j.join_eui(),
        dev_eui: j.dev_eui(),
        dev_nonce: j.dev_nonce(),
        mic: j.mic(),
        mic_check,
    }
}

/// A rejoin-request.
pub(crate) fn rejoin(r: RejoinRequest<'_>, ctx: &Context) -> RejoinReport {
    let rejoin_type = r.rejoin_type().join_req_type();
    let mic_check = if r.rejoin_type() == JoinType::RejoinType1 {
        match ctx.keys.js_int_key(Some(r.dev_eui())) {
            Some(k) => checked(r.verify_mic_type_1(&k.keyed()), "JSIntKey"),
            None => MicCheck::not_checked(
                "no key given: give --nwk-key (JSIntKey is derived from it and the DevEUI) or --js-int-key",
            ),
        }
    } else {
        match ctx.keys.s_nwk_s_int_key {
            Some(k) => checked(r.verify_mic_type_0_2(&k.keyed()), "SNwkSIntKey"),
            None => MicCheck::not_checked("no key given: give --s-nwk-s-int-key"),
        }
    };
    RejoinReport {
        rejoin_type,
        net_id: r.net_id(),
        join_eui: r.join_eui(),
        dev_eui: r.dev_eui(),
        rj_count: r.rj_count(),
        mic: r.mic(),
        mic_check,
    }
}

/// A join-accept: decrypted with the key given, its MIC checked, the session
/// keys derived when their inputs are known.
pub(crate) fn join_accept(
    enc: EncryptedJoinAccept<'_>,
    ctx: &Context,
    notes: &mut Vec<String>,
) -> JoinAcceptReport {
    let mut report = JoinAcceptReport {
        encrypted: hex(enc.ciphertext()),
        decrypted_with: None,
        fields: None,
        mic_check: MicCheck::default(),
        session_keys: None,
    };
    let root = root_key(ctx);
    let (ja, key_name) = match (ctx.rejoin_type, root) {
        (Some(_), _) => match ctx.keys.js_enc_key(ctx.dev_eui) {
            Some(k) => (enc.decrypt(&k.keyed()), "JSEncKey"),
            None => {
                report.mic_check = MicCheck::not_checked(
                    "a join-accept answering a rejoin-request is encrypted with JSEncKey: \
                     give --js-enc-key, or --nwk-key and --dev-eui",
                );
                return report;
            }
        },
        (None, Some(root)) => (root.decrypt(&enc), root.name()),
        (None, None) => {
            report.mic_check =
                MicCheck::not_checked(format!("{ROOT_HINT} to decrypt the join-accept"));
            return report;
        }
    };
    report.decrypted_with = Some(key_name);
    let opt_neg = ja.dl_settings().opt_neg();
    // OptNeg means a 1.1 MIC only to a 1.1 device, whose root key is the NwkKey.
    let lorawan_11 = ctx.rejoin_type.is_some() || (opt_neg && matches!(root, Some(Root::Nwk(_))));
    if opt_neg && matches!(root, Some(Root::App(_))) && ctx.rejoin_type.is_none() {
        notes.push(
            "OptNeg is set (a LoRaWAN 1.1 network): a 1.1 device decrypts with --nwk-key".into(),
        );
    }
    // For a rejoin, the MIC and the keys take the RJcount where a join takes the DevNonce.
    let nonce = match ctx.rejoin_type {
        Some(_) => ctx.rj_count.map(DevNonce),
        None => ctx.dev_nonce,
    };
    report.mic_check = if lorawan_11 {
        mic_11(&ja, ctx, nonce)
    } else {
        match root {
            Some(root) => checked(root.verify_mic_10(&ja), root.name()),
            None => MicCheck::default(),
        }
    };
    if report.mic_check.valid == Some(false) {
        notes.push("MIC invalid: the key is probably wrong, and the fields with it".into());
    }
    if report.mic_check.valid != Some(false) {
        report.session_keys = session_keys(&ja, ctx, root, lorawan_11, nonce, notes);
    }
    report.fields = Some(fields(&ja));
    report
}

/// The MIC of a 1.1 join-accept with OptNeg: JSIntKey over JoinReqType, JoinEUI,
/// DevNonce (or RJcount) and the plaintext.
fn mic_11(ja: &JoinAccept, ctx: &Context, nonce: Option<DevNonce>) -> MicCheck {
    let join_type = match ctx.rejoin_type {
        None => JoinType::JoinRequest,
        Some(0) => JoinType::RejoinType0,
        Some(1) => JoinType::RejoinType1,
        Some(_) => JoinType::RejoinType2,
    };
    let js_int_key = ctx.keys.js_int_key(ctx.dev_eui);
    match (js_int_key, ctx.join_eui, nonce) {
        (Some(k), Some(join_eui), Some(nonce)) => checked(
            ja.verify_mic_11(&k.keyed(), join_type, join_eui, nonce),
            "JSIntKey",
        ),
        _ => {
            let mut missing = Vec::new();
            if js_int_key.is_none() {
                missing.push("--dev-eui (with --nwk-key) or --js-int-key");
            }
            if ctx.join_eui.is_none() {
                missing.push("--join-eui");
            }
            if nonce.is_none() {
                missing.push(if ctx.rejoin_type.is_some() {
                    "--rj-count"
                } else {
                    "--dev-nonce"
                });
            }
            MicCheck::not_checked(format!(
                "the MIC of a 1.1 join-accept with OptNeg is keyed by JSIntKey over the JoinEUI and DevNonce: give {}",
                missing.join(", ")
            ))
        }
    }
}

fn session_keys(
    ja: &JoinAccept,
    ctx: &Context,
    root: Option<Root>,
    lorawan_11: bool,
    nonce: Option<DevNonce>,
    notes: &mut Vec<String>,
) -> Option<SessionKeysReport> {
    let Some(nonce) = nonce else {
        let flag = match ctx.rejoin_type {
            Some(_) => "--rj-count",
            None => "--dev-nonce",
        };
        notes.push(format!("give {flag} to derive the session keys"));
        return None;
    };
    if lorawan_11 {
        let (Some(nwk_key), Some(app_key), Some(join_eui)) =
            (ctx.keys.nwk_key, ctx.keys.app_key, ctx.join_eui)
        else {
            let missing: Vec<&str> = [
                (ctx.keys.nwk_key.is_none(), "--nwk-key"),
                (ctx.keys.app_key.is_none(), "--app-key"),
                (ctx.join_eui.is_none(), "--join-eui"),
            ]
            .into_iter()
            .filter_map(|(absent, flag)| absent.then_some(flag))
            .collect();
            notes.push(format!(
                "the LoRaWAN 1.1 session keys also need {}",
                missing.join(", ")
            ));
            return None;
        };
        let keys = derive_session_keys_11(
            &nwk_key.keyed(),
            &app_key.keyed(),
            ja.join_nonce(),
            join_eui,
            nonce,
        );
        return Some(SessionKeysReport {
            lorawan: "1.1",
            f_nwk_s_int_key: Some(keys.f_nwk_s_int_key),
            s_nwk_s_int_key: Some(keys.s_nwk_s_int_key),
            nwk_s_enc_key: Some(keys.nwk_s_enc_key),
            app_s_key: Some(keys.app_s_key),
            js_int_key: ctx.keys.js_int_key(ctx.dev_eui),
            js_enc_key: ctx.keys.js_enc_key(ctx.dev_eui),
            ..SessionKeysReport::default()
        });
    }
    let (join_nonce, net_id) = (ja.join_nonce(), ja.home_net_id());
    let keys = match root? {
        Root::App(k) => derive_session_keys_10(&k.keyed(), join_nonce, net_id, nonce),
        Root::Nwk(k) => {
            notes.push(
                "OptNeg unset: a 1.1 device uses the NwkSKey as FNwkSIntKey, SNwkSIntKey and NwkSEncKey"
                    .into(),
            );
            derive_session_keys_10(&k.keyed(), join_nonce, net_id, nonce)
        }
    };
    Some(SessionKeysReport {
        lorawan: "1.0",
        nwk_s_key: Some(keys.nwk_s_key),
        app_s_key: Some(keys.app_s_key),
        ..SessionKeysReport::default()
    })
}

fn fields(ja: &JoinAccept) -> JoinAcceptFields {
    let dl = ja.dl_settings();
    JoinAcceptFields {
        plaintext: hex(ja.as_bytes()),
        join_nonce: ja.join_nonce(),
        home_net_id: ja.home_net_id(),
        dev_addr: ja.dev_addr(),
        dev_addr_info: DevAddrInfo::of(ja.dev_addr()),
        dl_settings: DlSettingsReport {
            byte: format!("{:02x}", dl.0),
            opt_neg: dl.opt_neg(),
            rx1_dr_offset: dl.rx1_dr_offset(),
            rx2_data_rate: dl.rx2_data_rate(),
        },
        rx_delay: RxDelayReport {
            byte: format!("{:02x}", ja.rx_delay().0),
            seconds: ja.rx_delay().seconds(),
        },
        cf_list: ja.cf_list().map(cf_list),
        mic: ja.mic(),
    }
}

fn cf_list(cf: CfList) -> CfListReport {
    let kind = match cf.cf_list_type() {
        CfListType::Frequencies => "frequencies",
        CfListType::ChannelMask => "channel_masks",
        CfListType::Reserved(_) => "reserved",
    };
    CfListReport {
        kind,
        bytes: hex(&cf.0),
        frequencies: cf.frequencies(),
        channel_masks: cf
            .channel_masks()
            .map(|m| m.iter().map(|m| format!("{m:04x}")).collect()),
    }
}
