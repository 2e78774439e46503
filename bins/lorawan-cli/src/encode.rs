//! `lorawan-cli encode`: builds a frame (data, join-request, join-accept,
//! rejoin-request, proprietary), encrypted and signed with the keys given.

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use lorawan::crypto::{B1Fields, Keyed, PayloadKey};
use lorawan::phy::{
    DataFrameMut, DataFrameRepr, FrameError, JoinAcceptRepr, JoinRequestRepr, JoinType,
    MAX_PHY_PAYLOAD_LEN, MType, Mhdr, RejoinRequestRepr,
};
use lorawan::{DevNonce, Direction, Mic};

use crate::encode_spec::{self, EncodeSpec, Params};
use crate::input::{self, Version};
use crate::keyring::KeyArgs;
use crate::report::hex;

/// Arguments of `encode`.
#[derive(Debug, Args)]
pub(crate) struct EncodeArgs {
    /// Read the frame's fields (and keys) from this JSON file, `-` for stdin, in
    /// the shape `decode --json` prints; flags override it.
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Print base64 instead of hex.
    #[arg(long)]
    base64: bool,
    /// The frame type: unconfirmed-data-up, confirmed-data-up,
    /// unconfirmed-data-down, confirmed-data-down, join-request, join-accept,
    /// rejoin-request or proprietary.
    #[arg(long)]
    pub(crate) mtype: Option<String>,
    /// The LoRaWAN version of the keys and MIC (default: 1.1 if a 1.1 key is given).
    #[arg(long)]
    pub(crate) lorawan: Option<Version>,
    #[command(flatten)]
    pub(crate) keys: KeyArgs,
    /// DevAddr (data frames, join-accept).
    #[arg(long, value_name = "HEX")]
    pub(crate) dev_addr: Option<String>,
    /// The full 32-bit frame counter (the frame carries its 16 low bits).
    #[arg(long, value_parser = input::u32_arg)]
    pub(crate) fcnt: Option<u32>,
    /// Set ADR in FCtrl.
    #[arg(long)]
    pub(crate) adr: bool,
    /// Set ADRACKReq in FCtrl (uplink).
    #[arg(long)]
    pub(crate) adr_ack_req: bool,
    /// Set ACK in FCtrl.
    #[arg(long)]
    pub(crate) ack: bool,
    /// Set FPending (downlink) or ClassB (uplink) in FCtrl.
    #[arg(long, visible_alias = "class-b")]
    pub(crate) f_pending: bool,
    /// FOpts in plaintext (MAC commands, at most 15 bytes; encrypted in 1.1).
    #[arg(long, value_name = "HEX")]
    pub(crate) fopts: Option<String>,
    /// FPort.
    #[arg(long, value_parser = input::u8_arg)]
    pub(crate) fport: Option<u8>,
    /// The FRMPayload in plaintext, as hex (encrypted with the key of the FPort).
    #[arg(long, value_name = "HEX", conflicts_with = "text")]
    pub(crate) payload: Option<String>,
    /// The FRMPayload in plaintext, as UTF-8 text.
    #[arg(long)]
    pub(crate) text: Option<String>,
    /// The FRMPayload as carried (already encrypted): written as is.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["payload", "text"])]
    pub(crate) frm_payload: Option<String>,
    /// The MIC to write when no key to compute it is given.
    #[arg(long, value_name = "HEX")]
    pub(crate) mic: Option<String>,
    /// ConfFCnt of a 1.1 MIC: the FCnt of the confirmed frame an ACK answers.
    #[arg(long, value_parser = input::u16_arg)]
    pub(crate) conf_fcnt: Option<u16>,
    /// TxDr of a 1.1 uplink (B1 MIC block).
    #[arg(long, value_parser = input::u8_arg)]
    pub(crate) tx_dr: Option<u8>,
    /// TxCh of a 1.1 uplink (B1 MIC block).
    #[arg(long, value_parser = input::u8_arg)]
    pub(crate) tx_ch: Option<u8>,
    /// JoinEUI (join-request, rejoin type 1, 1.1 join-accept MIC).
    #[arg(long, value_name = "HEX")]
    pub(crate) join_eui: Option<String>,
    /// DevEUI (join-request, rejoin-request; with --nwk-key derives JSIntKey, JSEncKey).
    #[arg(long, value_name = "HEX")]
    pub(crate) dev_eui: Option<String>,
    /// DevNonce, 4 hex digits MSB first (join-request, 1.1 join-accept MIC).
    #[arg(long, value_name = "HEX")]
    pub(crate) dev_nonce: Option<String>,
    /// JoinNonce of a join-accept, 6 hex digits MSB first.
    #[arg(long, value_name = "HEX")]
    pub(crate) join_nonce: Option<String>,
    /// NetID: Home_NetID of a join-accept, NetID of a rejoin type 0 or 2.
    #[arg(long, value_name = "HEX")]
    pub(crate) net_id: Option<String>,
    /// RX1DROffset of a join-accept (0-7).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=7))]
    pub(crate) rx1_dr_offset: Option<u8>,
    /// RX2DataRate of a join-accept (0-15).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=15))]
    pub(crate) rx2_dr: Option<u8>,
    /// RxDelay of a join-accept in seconds (0-15; 0 means 1).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=15))]
    pub(crate) rx_delay: Option<u8>,
    /// CFList of up to five frequencies, comma-separated, in Hz or in MHz with a
    /// decimal point (867.1,867.3).
    #[arg(long, value_name = "LIST", conflicts_with = "cf_list_masks")]
    pub(crate) cf_list_freqs: Option<String>,
    /// CFList of up to five 16-bit channel masks, comma-separated hex (ff00,0000).
    #[arg(long, value_name = "LIST")]
    pub(crate) cf_list_masks: Option<String>,
    /// Rejoin type (0, 1, 2) of a rejoin-request, or of the rejoin-request a
    /// join-accept answers.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) rejoin_type: Option<u8>,
    /// RJcount0 or RJcount1 of a rejoin-request (or of the one a join-accept answers).
    #[arg(long, value_parser = input::u16_arg)]
    pub(crate) rj_count: Option<u16>,
}

/// Runs `encode` and returns what to print.
pub(crate) fn run(args: &EncodeArgs) -> Result<String> {
    let spec = match &args.json {
        Some(path) => encode_spec::read_spec(path)?,
        None => EncodeSpec::default(),
    };
    let params = encode_spec::params(args, &spec)?;
    let frame = build(&params)?;
    Ok(if args.base64 {
        STANDARD.encode(&frame)
    } else {
        hex(&frame)
    } + "\n")
}

fn frame_err(e: FrameError) -> anyhow::Error {
    anyhow!("{e}")
}

/// Builds the frame `p` describes.
pub(crate) fn build(p: &Params) -> Result<Vec<u8>> {
    match p.mtype {
        MType::UnconfirmedDataUp
        | MType::ConfirmedDataUp
        | MType::UnconfirmedDataDown
        | MType::ConfirmedDataDown => data(p),
        MType::JoinRequest => join_request(p),
        MType::JoinAccept => join_accept(p),
        MType::RejoinRequest => rejoin_request(p),
        MType::Proprietary => {
            let mut out = vec![Mhdr::new(MType::Proprietary).0];
            out.extend(
                p.payload
                    .as_deref()
                    .or(p.frm_payload.as_deref())
                    .unwrap_or_default(),
            );
            if out.len() > MAX_PHY_PAYLOAD_LEN {
                return Err(frame_err(FrameError::TooLong(out.len())));
            }
            Ok(out)
        }
    }
}

fn data(p: &Params) -> Result<Vec<u8>> {
    let version = p.keys.data_version(p.lorawan)?;
    let dev_addr = p
        .dev_addr
        .ok_or_else(|| anyhow!("a data frame needs --dev-addr"))?;
    let (frm, encrypt) = match (&p.payload, &p.frm_payload) {
        (Some(plain), _) => (plain.as_slice(), true),
        (None, Some(carried)) => (carried.as_slice(), false),
        (None, None) => (&[][..], false),
    };
    if !frm.is_empty() && p.fport.is_none() {
        bail!("an FRMPayload needs --fport");
    }
    let repr = DataFrameRepr {
        mtype: p.mtype,
        dev_addr,
        fctrl: p.fctrl,
        fcnt: p.fcnt,
        fopts: &p.fopts,
        fport: p.fport,
        frm_payload: frm,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(Mic::default(), &mut buf).map_err(frame_err)?;
    buf.truncate(n);
    let mut f = DataFrameMut::new_checked(&mut buf).map_err(frame_err)?;
    if version == Version::V11 && !p.fopts.is_empty() {
        let k = p.keys.nwk_s_enc_key.ok_or_else(|| {
            anyhow!("LoRaWAN 1.1 FOpts are encrypted with NwkSEncKey: give --nwk-s-enc-key")
        })?;
        f.crypt_fopts(&k.keyed(), p.fcnt);
    }
    if encrypt && !frm.is_empty() {
        let port = p.fport.unwrap_or(0);
        let network_port = port == 0 || port == 226;
        let k = &p.keys;
        let missing = |flag: &str| anyhow!("to encrypt the FRMPayload of FPort {port} give {flag}");
        match (network_port, version) {
            (false, _) => {
                let key = k.app_s_key.ok_or_else(|| missing("--app-s-key"))?;
                crypt(&mut f, &key, p.fcnt)?;
            }
            (true, Version::V10) => {
                let key = k.nwk_s_key.ok_or_else(|| missing("--nwk-s-key"))?;
                crypt(&mut f, &key, p.fcnt)?;
            }
            (true, Version::V11) => {
                let key = k.nwk_s_enc_key.ok_or_else(|| missing("--nwk-s-enc-key"))?;
                crypt(&mut f, &key, p.fcnt)?;
            }
        }
    }
    sign_data(&mut f, p, version)?;
    Ok(buf)
}

fn crypt<K: PayloadKey>(f: &mut DataFrameMut<'_>, key: &K, fcnt: u32) -> Result<()> {
    f.crypt_frm_payload(&Keyed::new(key), fcnt)
        .map_err(frame_err)
}

/// Writes the MIC: computed with the keys of the version, else the one given.
fn sign_data(f: &mut DataFrameMut<'_>, p: &Params, version: Version) -> Result<()> {
    let k = &p.keys;
    let dir = f.view().direction();
    let signed = match (version, dir) {
        (Version::V10, Direction::Uplink) => k
            .nwk_s_key
            .map(|key| f.set_uplink_mic_10(&key.keyed(), p.fcnt)),
        (Version::V10, Direction::Downlink) => k
            .nwk_s_key
            .map(|key| f.set_downlink_mic_10(&key.keyed(), p.fcnt)),
        (Version::V11, Direction::Uplink) => match (k.f_nwk_s_int_key, k.s_nwk_s_int_key) {
            (Some(fk), Some(sk)) => {
                let b1 = B1Fields {
                    conf_f_cnt: p.conf_fcnt,
                    tx_dr: p.tx_dr,
                    tx_ch: p.tx_ch,
                };
                Some(f.set_uplink_mic_11(&fk.keyed(), &sk.keyed(), b1, p.fcnt))
            }
            (None, None) => None,
            _ if p.mic.is_some() => None,
            _ => {
                bail!("a LoRaWAN 1.1 uplink MIC needs both --f-nwk-s-int-key and --s-nwk-s-int-key")
            }
        },
        (Version::V11, Direction::Downlink) => k
            .s_nwk_s_int_key
            .map(|key| f.set_downlink_mic_11(&key.keyed(), p.conf_fcnt, p.fcnt)),
    };
    match (signed, p.mic) {
        (Some(result), _) => result.map_err(frame_err),
        (None, Some(mic)) => {
            f.set_mic(mic);
            Ok(())
        }
        (None, None) => {
            let flag = match (version, dir) {
                (Version::V10, _) => "--nwk-s-key",
                (Version::V11, Direction::Uplink) => "--f-nwk-s-int-key and --s-nwk-s-int-key",
                (Version::V11, Direction::Downlink) => "--s-nwk-s-int-key",
            };
            bail!("to compute the MIC give {flag} (or write one with --mic)")
        }
    }
}

/// The root key of a join-request: the NwkKey in 1.1, else the AppKey.
fn root_is_nwk(p: &Params) -> bool {
    match p.lorawan {
        Some(Version::V10) => p.keys.app_key.is_none() && p.keys.nwk_key.is_some(),
        Some(Version::V11) => true,
        None => p.keys.nwk_key.is_some(),
    }
}

fn required<T>(v: Option<T>, what: &str) -> Result<T> {
    v.ok_or_else(|| anyhow!("{what}"))
}

fn join_request(p: &Params) -> Result<Vec<u8>> {
    let repr = JoinRequestRepr {
        join_eui: required(p.join_eui, "a join-request needs --join-eui")?,
        dev_eui: required(p.dev_eui, "a join-request needs --dev-eui")?,
        dev_nonce: required(p.dev_nonce, "a join-request needs --dev-nonce")?,
    };
    let mut buf = [0u8; 23];
    let n = match (root_is_nwk(p), p.keys.nwk_key, p.keys.app_key, p.mic) {
        (true, Some(k), _, _) => repr.build(&k.keyed(), &mut buf),
        (false, _, Some(k), _) => repr.build(&k.keyed(), &mut buf),
        (_, _, _, Some(mic)) => repr.emit(mic, &mut buf),
        (true, None, _, None) => {
            bail!("to compute the MIC give --nwk-key (or write one with --mic)")
        }
        (false, _, None, None) => {
            bail!("to compute the MIC give --app-key (or write one with --mic)")
        }
    }
    .map_err(frame_err)?;
    Ok(buf[..n].to_vec())
}

fn join_accept(p: &Params) -> Result<Vec<u8>> {
    let v11 = match p.lorawan {
        Some(v) => v == Version::V11,
        None => p.keys.nwk_key.is_some() || p.rejoin_type.is_some(),
    };
    let repr = JoinAcceptRepr {
        join_nonce: required(p.join_nonce, "a join-accept needs --join-nonce")?,
        home_net_id: required(p.net_id, "a join-accept needs --net-id")?,
        dev_addr: required(p.dev_addr, "a join-accept needs --dev-addr")?,
        dl_settings: p.dl_settings(v11)?,
        rx_delay: p.rx_delay,
        cf_list: p.cf_list,
    };
    let mut buf = [0u8; 33];
    let n = if v11 && repr.dl_settings.opt_neg() {
        join_accept_11(p, &repr, &mut buf)?
    } else {
        if p.rejoin_type.is_some() {
            bail!("a join-accept answering a rejoin-request is a LoRaWAN 1.1 one, with OptNeg");
        }
        match (v11, p.keys.app_key, p.keys.nwk_key) {
            (true, _, Some(k)) | (false, None, Some(k)) => repr.build_10(&k.keyed(), &mut buf),
            (false, Some(k), _) => repr.build_10(&k.keyed(), &mut buf),
            (true, _, None) => bail!("a LoRaWAN 1.1 join-accept is encrypted with --nwk-key"),
            (false, None, None) => {
                bail!("a join-accept is encrypted and signed with --app-key (LoRaWAN 1.0)")
            }
        }
        .map_err(frame_err)?
    };
    Ok(buf[..n].to_vec())
}

/// A 1.1 join-accept with OptNeg: MIC with JSIntKey, encrypted with the NwkKey
/// (answering a join-request) or JSEncKey (answering a rejoin-request).
fn join_accept_11(p: &Params, repr: &JoinAcceptRepr, buf: &mut [u8]) -> Result<usize> {
    let js_int_key = required(
        p.keys.js_int_key(p.dev_eui),
        "the MIC of a 1.1 join-accept is keyed by JSIntKey: give --nwk-key and --dev-eui, or --js-int-key",
    )?;
    let join_eui = required(
        p.join_eui,
        "the MIC of a 1.1 join-accept covers the JoinEUI: give --join-eui",
    )?;
    let join_type = match p.rejoin_type {
        None => JoinType::JoinRequest,
        Some(0) => JoinType::RejoinType0,
        Some(1) => JoinType::RejoinType1,
        Some(_) => JoinType::RejoinType2,
    };
    let js = js_int_key.keyed();
    let result = if p.rejoin_type.is_some() {
        let enc = required(
            p.keys.js_enc_key(p.dev_eui),
            "a join-accept answering a rejoin-request is encrypted with JSEncKey: give --nwk-key and --dev-eui, or --js-enc-key",
        )?;
        repr.build_11(
            &js,
            join_type,
            join_eui,
            DevNonce(p.rj_count),
            &enc.keyed(),
            buf,
        )
    } else {
        let dev_nonce = required(
            p.dev_nonce,
            "the MIC of a 1.1 join-accept covers the DevNonce: give --dev-nonce",
        )?;
        let nwk = required(
            p.keys.nwk_key,
            "a 1.1 join-accept is encrypted with the NwkKey: give --nwk-key",
        )?;
        repr.build_11(&js, join_type, join_eui, dev_nonce, &nwk.keyed(), buf)
    };
    result.map_err(frame_err)
}

fn rejoin_request(p: &Params) -> Result<Vec<u8>> {
    let dev_eui = required(p.dev_eui, "a rejoin-request needs --dev-eui")?;
    let repr = match p.rejoin_type.unwrap_or(0) {
        1 => RejoinRequestRepr::Type1 {
            join_eui: required(p.join_eui, "a rejoin-request of type 1 needs --join-eui")?,
            dev_eui,
            rj_count1: p.rj_count,
        },
        t => {
            let net_id = required(p.net_id, "a rejoin-request of type 0 or 2 needs --net-id")?;
            match t {
                0 => RejoinRequestRepr::Type0 {
                    net_id,
                    dev_eui,
                    rj_count0: p.rj_count,
                },
                2 => RejoinRequestRepr::Type2 {
                    net_id,
                    dev_eui,
                    rj_count0: p.rj_count,
                },
                t => bail!("rejoin type {t}: only 0, 1 and 2 are defined"),
            }
        }
    };
    let mut buf = [0u8; 24];
    let type_1 = matches!(repr, RejoinRequestRepr::Type1 { .. });
    let n = match (type_1, p.keys.js_int_key(Some(dev_eui)), p.keys.s_nwk_s_int_key, p.mic) {
        (true, Some(k), _, _) => repr.build_type_1(&k.keyed(), &mut buf),
        (false, _, Some(k), _) => repr.build_type_0_2(&k.keyed(), &mut buf),
        (_, _, _, Some(mic)) => repr.emit(mic, &mut buf),
        (true, None, _, None) => bail!(
            "the MIC of a rejoin-request of type 1 is keyed by JSIntKey: give --nwk-key or --js-int-key (or --mic)"
        ),
        (false, _, None, None) => bail!(
            "the MIC of a rejoin-request of type 0 or 2 is keyed by SNwkSIntKey: give --s-nwk-s-int-key (or --mic)"
        ),
    }
    .map_err(frame_err)?;
    Ok(buf[..n].to_vec())
}
