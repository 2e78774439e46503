//! `lorawan-cli keys`: session keys (and LoRaWAN 1.1 join-server keys) derived
//! from a root key and the nonces of a join.

use anyhow::{Result, anyhow, bail};
use clap::Args;
use lorawan::crypto::{derive_session_keys_10, derive_session_keys_11};
use lorawan::keys::{AppKey, NwkKey};
use lorawan::phy::{Frame, JoinAccept};
use lorawan::{DevNonce, Eui64, JoinNonce, NetId};

use crate::decode_join::Root;
use crate::input::{self, Version};
use crate::keyring::Keys;
use crate::output;
use crate::report::SessionKeysReport;

/// Arguments of `keys`.
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    /// AppKey: the LoRaWAN 1.0 root key; in 1.1 the root of the AppSKey.
    #[arg(long, value_name = "HEX")]
    app_key: Option<String>,
    /// NwkKey: the LoRaWAN 1.1 root key of the network keys.
    #[arg(long, value_name = "HEX")]
    nwk_key: Option<String>,
    /// JoinNonce (AppNonce in 1.0) of the join-accept, 6 hex digits MSB first.
    #[arg(long, value_name = "HEX")]
    join_nonce: Option<String>,
    /// Home_NetID of the join-accept (LoRaWAN 1.0 derivation).
    #[arg(long, value_name = "HEX")]
    net_id: Option<String>,
    /// JoinEUI (LoRaWAN 1.1 derivation).
    #[arg(long, value_name = "HEX")]
    join_eui: Option<String>,
    /// DevNonce of the join-request, 4 hex digits MSB first (wire bytes `cc dd` are `ddcc`).
    #[arg(long, value_name = "HEX")]
    dev_nonce: Option<String>,
    /// DevEUI: with --nwk-key, also derives JSIntKey and JSEncKey.
    #[arg(long, value_name = "HEX")]
    dev_eui: Option<String>,
    /// Take JoinEUI, DevEUI and DevNonce from this join-request (hex or base64).
    #[arg(long, value_name = "FRAME")]
    join_request: Option<String>,
    /// Take JoinNonce and Home_NetID from this join-accept, decrypted with the
    /// root key (hex or base64).
    #[arg(long, value_name = "FRAME")]
    join_accept: Option<String>,
    /// The LoRaWAN version (default: 1.1 when --nwk-key is given).
    #[arg(long)]
    lorawan: Option<Version>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The nonces and identifiers of a join, from flags or frames.
#[derive(Debug, Default)]
struct JoinInputs {
    join_nonce: Option<JoinNonce>,
    net_id: Option<NetId>,
    join_eui: Option<Eui64>,
    dev_nonce: Option<DevNonce>,
    dev_eui: Option<Eui64>,
}

/// Runs `keys` and returns what to print.
pub(crate) fn run(args: &KeysArgs) -> Result<String> {
    let app_key: Option<AppKey> = input::opt_hex("--app-key", args.app_key.as_deref())?;
    let nwk_key: Option<NwkKey> = input::opt_hex("--nwk-key", args.nwk_key.as_deref())?;
    let version = args.lorawan.unwrap_or(if nwk_key.is_some() {
        Version::V11
    } else {
        Version::V10
    });
    let mut j = JoinInputs {
        join_nonce: input::opt_hex("--join-nonce", args.join_nonce.as_deref())?,
        net_id: input::opt_hex("--net-id", args.net_id.as_deref())?,
        join_eui: input::opt_hex("--join-eui", args.join_eui.as_deref())?,
        dev_nonce: input::opt_hex("--dev-nonce", args.dev_nonce.as_deref())?,
        dev_eui: input::opt_hex("--dev-eui", args.dev_eui.as_deref())?,
    };
    if let Some(frame) = &args.join_request {
        from_join_request(frame, &mut j)?;
    }
    if let Some(frame) = &args.join_accept {
        let ja = decrypt_join_accept(frame, version, app_key, nwk_key)?;
        j.join_nonce = j.join_nonce.or(Some(ja.join_nonce()));
        j.net_id = j.net_id.or(Some(ja.home_net_id()));
    }
    let report = match version {
        Version::V10 => keys_10(app_key, nwk_key, &j)?,
        Version::V11 => keys_11(app_key, nwk_key, &j)?,
    };
    if args.json {
        Ok(serde_json::to_string_pretty(&report)? + "\n")
    } else {
        Ok(output::render_keys(&report))
    }
}

fn from_join_request(frame: &str, j: &mut JoinInputs) -> Result<()> {
    let bytes = input::frame_bytes(frame)?;
    let Frame::JoinRequest(jr) =
        Frame::parse(&bytes).map_err(|e| anyhow!("--join-request: {e}"))?
    else {
        bail!("--join-request: not a join-request");
    };
    j.join_eui = j.join_eui.or(Some(jr.join_eui()));
    j.dev_eui = j.dev_eui.or(Some(jr.dev_eui()));
    j.dev_nonce = j.dev_nonce.or(Some(jr.dev_nonce()));
    Ok(())
}

/// Decrypts a join-accept with the root key of `version`; for 1.0 (or OptNeg
/// unset) its MIC must match, so that a wrong key is not taken for nonces.
fn decrypt_join_accept(
    frame: &str,
    version: Version,
    app_key: Option<AppKey>,
    nwk_key: Option<NwkKey>,
) -> Result<JoinAccept> {
    let bytes = input::frame_bytes(frame)?;
    let Frame::JoinAccept(enc) = Frame::parse(&bytes).map_err(|e| anyhow!("--join-accept: {e}"))?
    else {
        bail!("--join-accept: not a join-accept");
    };
    // A 1.1 device's join-accept is encrypted with the NwkKey, a 1.0 device's with the AppKey.
    let root = match (version, app_key, nwk_key) {
        (Version::V11, _, Some(k)) | (Version::V10, None, Some(k)) => Root::Nwk(k),
        (Version::V10, Some(k), _) => Root::App(k),
        (Version::V11, _, None) => {
            bail!("--join-accept: give --nwk-key to decrypt it (LoRaWAN 1.1)")
        }
        (Version::V10, None, None) => bail!("--join-accept: give --app-key to decrypt it"),
    };
    let ja = root.decrypt(&enc);
    let mic = root.verify_mic_10(&ja);
    // A 1.1 join-accept with OptNeg has a JSIntKey MIC, not checked here.
    if mic.is_err() && !ja.dl_settings().opt_neg() {
        bail!("--join-accept: MIC invalid with the root key given (wrong key?)");
    }
    Ok(ja)
}

fn keys_10(
    app_key: Option<AppKey>,
    nwk_key: Option<NwkKey>,
    j: &JoinInputs,
) -> Result<SessionKeysReport> {
    let (Some(join_nonce), Some(net_id), Some(dev_nonce)) = (j.join_nonce, j.net_id, j.dev_nonce)
    else {
        bail!(
            "LoRaWAN 1.0 session keys need --join-nonce and --net-id (or --join-accept), and \
             --dev-nonce (or --join-request)"
        );
    };
    let keys = match (app_key, nwk_key) {
        (Some(k), _) => derive_session_keys_10(&k.keyed(), join_nonce, net_id, dev_nonce),
        (None, Some(k)) => derive_session_keys_10(&k.keyed(), join_nonce, net_id, dev_nonce),
        (None, None) => bail!("LoRaWAN 1.0 session keys need --app-key"),
    };
    Ok(SessionKeysReport {
        lorawan: "1.0",
        nwk_s_key: Some(keys.nwk_s_key),
        app_s_key: Some(keys.app_s_key),
        ..SessionKeysReport::default()
    })
}

fn keys_11(
    app_key: Option<AppKey>,
    nwk_key: Option<NwkKey>,
    j: &JoinInputs,
) -> Result<SessionKeysReport> {
    let root = Keys {
        nwk_key,
        ..Keys::default()
    };
    let (js_int_key, js_enc_key) = (root.js_int_key(j.dev_eui), root.js_enc_key(j.dev_eui));
    let inputs = (nwk_key, app_key, j.join_nonce, j.join_eui, j.dev_nonce);
    let (Some(nwk_key), Some(app_key), Some(join_nonce), Some(join_eui), Some(dev_nonce)) = inputs
    else {
        if js_int_key.is_some() && inputs.1.is_none() && inputs.2.is_none() {
            // Only the join-server keys were asked for.
            return Ok(SessionKeysReport {
                lorawan: "1.1",
                js_int_key,
                js_enc_key,
                ..SessionKeysReport::default()
            });
        }
        bail!(
            "LoRaWAN 1.1 session keys need --nwk-key, --app-key, --join-nonce (or --join-accept), \
             and --join-eui and --dev-nonce (or --join-request)"
        );
    };
    let keys = derive_session_keys_11(
        &nwk_key.keyed(),
        &app_key.keyed(),
        join_nonce,
        join_eui,
        dev_nonce,
    );
    Ok(SessionKeysReport {
        lorawan: "1.1",
        f_nwk_s_int_key: Some(keys.f_nwk_s_int_key),
        s_nwk_s_int_key: Some(keys.s_nwk_s_int_key),
        nwk_s_enc_key: Some(keys.nwk_s_enc_key),
        app_s_key: Some(keys.app_s_key),
        js_int_key,
        js_enc_key,
        ..SessionKeysReport::default()
    })
}
