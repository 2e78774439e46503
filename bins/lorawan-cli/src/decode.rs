//! `lorawan-cli decode`: every field of a frame, its MIC checked with the keys
//! given, its payload and MAC commands decrypted and read.

use anyhow::{Result, anyhow};
use clap::Args;
use lorawan::crypto::{self, B1Fields, Keyed, PayloadKey};
use lorawan::keys::FNwkSIntKey;
use lorawan::phy::{DataFrame, FCtrl, Frame, FrameError, MType};
use lorawan::{DevNonce, Direction, Eui64, FCnt};

use crate::input::{self, Version};
use crate::keyring::{KeyArgs, Keys};
use crate::report::{
    DataReport, DevAddrInfo, FCtrlReport, FrameReport, MicCheck, PayloadReport, Report, hex,
};
use crate::{decode_join, mac_json, output};

/// Arguments of `decode`.
#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The PHYPayload: hex (spaces, commas and 0x allowed) or base64 (as in
    /// ChirpStack's phyPayload); `-` reads it from stdin.
    #[arg(value_name = "FRAME")]
    frame: String,
    #[command(flatten)]
    keys: KeyArgs,
    /// DevNonce of the join-request a join-accept answers (MSB first, as a
    /// 4-digit hex number): for the 1.1 join-accept MIC and the session keys.
    #[arg(long, value_name = "HEX")]
    dev_nonce: Option<String>,
    /// JoinEUI: for the 1.1 join-accept MIC and the 1.1 session keys.
    #[arg(long, value_name = "HEX")]
    join_eui: Option<String>,
    /// DevEUI: with --nwk-key, derives JSIntKey and JSEncKey.
    #[arg(long, value_name = "HEX")]
    dev_eui: Option<String>,
    /// The full 32-bit frame counter (default: the 16 bits the frame carries).
    #[arg(long, value_parser = input::u32_arg)]
    fcnt: Option<u32>,
    /// ConfFCnt for a 1.1 MIC: the FCnt of the confirmed frame an ACK answers.
    #[arg(long, value_parser = input::u16_arg)]
    conf_fcnt: Option<u16>,
    /// TxDr of a 1.1 uplink (its B1 MIC block).
    #[arg(long, value_parser = input::u8_arg)]
    tx_dr: Option<u8>,
    /// TxCh of a 1.1 uplink (its B1 MIC block).
    #[arg(long, value_parser = input::u8_arg)]
    tx_ch: Option<u8>,
    /// The LoRaWAN version of the session (default: 1.1 if a 1.1 key is given).
    #[arg(long)]
    lorawan: Option<Version>,
    /// A join-accept answers a rejoin-request of this type (0, 1 or 2): it is
    /// encrypted with JSEncKey and its MIC covers the RJcount.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    rejoin_type: Option<u8>,
    /// RJcount0 or RJcount1 of the rejoin-request a join-accept answers.
    #[arg(long, value_parser = input::u16_arg)]
    rj_count: Option<u16>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The parsed inputs of a decode.
#[derive(Debug, Clone, Default)]
pub(crate) struct Context {
    pub(crate) keys: Keys,
    pub(crate) dev_nonce: Option<DevNonce>,
    pub(crate) join_eui: Option<Eui64>,
    pub(crate) dev_eui: Option<Eui64>,
    pub(crate) fcnt: Option<u32>,
    pub(crate) conf_fcnt: Option<u16>,
    pub(crate) tx_dr: Option<u8>,
    pub(crate) tx_ch: Option<u8>,
    pub(crate) lorawan: Option<Version>,
    pub(crate) rejoin_type: Option<u8>,
    pub(crate) rj_count: Option<u16>,
}

impl Context {
    fn from_args(a: &DecodeArgs) -> Result<Self> {
        Ok(Self {
            keys: Keys::from_flags(&a.keys)?,
            dev_nonce: input::opt_hex("--dev-nonce", a.dev_nonce.as_deref())?,
            join_eui: input::opt_hex("--join-eui", a.join_eui.as_deref())?,
            dev_eui: input::opt_hex("--dev-eui", a.dev_eui.as_deref())?,
            fcnt: a.fcnt,
            conf_fcnt: a.conf_fcnt,
            tx_dr: a.tx_dr,
            tx_ch: a.tx_ch,
            lorawan: a.lorawan,
            rejoin_type: a.rejoin_type,
            rj_count: a.rj_count,
        })
    }
}

/// Runs `decode` and returns what to print.
pub(crate) fn run(args: &DecodeArgs) -> Result<String> {
    let ctx = Context::from_args(args)?;
    let bytes = input::frame_bytes(&args.frame)?;
    let report = decode(&bytes, &ctx)?;
    if args.json {
        Ok(serde_json::to_string_pretty(&report)? + "\n")
    } else {
        Ok(output::render(&report))
    }
}

/// Decodes a PHYPayload.
pub(crate) fn decode(bytes: &[u8], ctx: &Context) -> Result<Report> {
    let frame = Frame::parse(bytes).map_err(|e| anyhow!("{e}"))?;
    let mhdr = frame.mhdr();
    let mut notes = Vec::new();
    let report = match frame {
        Frame::Data(d) => FrameReport::Data(Box::new(data(d, ctx, &mut notes)?)),
        Frame::JoinRequest(j) => FrameReport::JoinRequest(decode_join::join_request(j, ctx)),
        Frame::JoinAccept(j) => {
            FrameReport::JoinAccept(Box::new(decode_join::join_accept(j, ctx, &mut notes)))
        }
        Frame::RejoinRequest(r) => FrameReport::RejoinRequest(decode_join::rejoin(r, ctx)),
        Frame::Proprietary(p) => FrameReport::Proprietary {
            payload: hex(p.payload()),
        },
    };
    Ok(Report {
        phy_payload: hex(bytes),
        length: bytes.len(),
        mhdr: format!("{:02x}", mhdr.0),
        mtype: mtype_name(mhdr.mtype()),
        major: mhdr.major(),
        direction: mhdr.mtype().direction().map(direction_name),
        frame: report,
        notes,
    })
}

/// The MType as the specification names it.
pub(crate) const fn mtype_name(m: MType) -> &'static str {
    match m {
        MType::JoinRequest => "JoinRequest",
        MType::JoinAccept => "JoinAccept",
        MType::UnconfirmedDataUp => "UnconfirmedDataUp",
        MType::UnconfirmedDataDown => "UnconfirmedDataDown",
        MType::ConfirmedDataUp => "ConfirmedDataUp",
        MType::ConfirmedDataDown => "ConfirmedDataDown",
        MType::RejoinRequest => "RejoinRequest",
        MType::Proprietary => "Proprietary",
    }
}

const fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Uplink => "uplink",
        Direction::Downlink => "downlink",
    }
}

/// The outcome of a MIC check by the library.
pub(crate) fn checked(result: Result<(), FrameError>, key: &str) -> MicCheck {
    let key = Some(key.to_owned());
    match result {
        Ok(()) => MicCheck {
            valid: Some(true),
            key,
            ..MicCheck::default()
        },
        Err(FrameError::MicMismatch { computed, .. }) => MicCheck {
            valid: Some(false),
            key,
            computed: Some(computed),
            note: None,
        },
        Err(e) => MicCheck {
            key,
            note: Some(e.to_string()),
            ..MicCheck::default()
        },
    }
}

fn data(f: DataFrame<'_>, ctx: &Context, notes: &mut Vec<String>) -> Result<DataReport> {
    let version = ctx.keys.data_version(ctx.lorawan)?;
    let dir = f.direction();
    let fcnt_full = full_fcnt(f.fcnt(), ctx.fcnt, notes);
    let mic_check = data_mic(&f, version, ctx, fcnt_full, notes);

    let fopts_plain = match (version, ctx.keys.nwk_s_enc_key) {
        _ if f.fopts().is_empty() => None,
        (Version::V10, _) => Some(f.fopts().to_vec()),
        (Version::V11, Some(k)) => {
            let mut buf = [0u8; 16];
            let plain = f
                .decrypt_fopts_into(&k.keyed(), fcnt_full, &mut buf)
                .map_err(|e| anyhow!("FOpts: {e}"))?;
            Some(plain.to_vec())
        }
        (Version::V11, None) => {
            notes.push(
                "FOpts are encrypted in LoRaWAN 1.1: give --nwk-s-enc-key to read their MAC commands"
                    .into(),
            );
            None
        }
    };
    let mut mac_commands = fopts_plain
        .as_deref()
        .map(|b| mac_json::reports(dir, "FOpts", b))
        .unwrap_or_default();
    let payload = frm_payload(&f, version, &ctx.keys, fcnt_full, notes)?;
    if let (Some(0), Some((plain, _))) = (f.fport(), &payload) {
        mac_commands.extend(mac_json::reports(dir, "FRMPayload", plain));
    }
    Ok(DataReport {
        lorawan: version.as_str(),
        dev_addr: f.dev_addr(),
        dev_addr_info: DevAddrInfo::of(f.dev_addr()),
        fctrl: fctrl_report(f.fctrl(), dir),
        fcnt: f.fcnt(),
        fcnt_full,
        fopts: hex(f.fopts()),
        fopts_decrypted: fopts_plain
            .filter(|_| version == Version::V11)
            .map(|b| hex(&b)),
        fport: f.fport(),
        frm_payload: hex(f.frm_payload()),
        mic: f.mic(),
        mic_check,
        payload: payload.map(|(plain, key)| PayloadReport {
            hex: hex(&plain),
            text: printable(&plain),
            key,
        }),
        mac_commands,
    })
}

fn fctrl_report(c: FCtrl, dir: Direction) -> FCtrlReport {
    let up = dir == Direction::Uplink;
    FCtrlReport {
        byte: format!("{:02x}", c.0),
        adr: c.adr(),
        adr_ack_req: up.then_some(c.adr_ack_req()),
        ack: c.ack(),
        class_b: up.then_some(c.class_b()),
        f_pending: (!up).then_some(c.f_pending()),
        f_opts_len: c.f_opts_len(),
    }
}

/// The full counter: the one given if it ends in the frame's 16 bits, else the
/// nearest one from it on that does, else the 16 bits themselves.
fn full_fcnt(carried: u16, given: Option<u32>, notes: &mut Vec<String>) -> u32 {
    match given {
        None => carried.into(),
        Some(c) if c as u16 == carried => c,
        Some(c) => {
            let full = FCnt::reconstruct(c, carried);
            notes.push(format!(
                "--fcnt {c} does not end in the 16 bits the frame carries ({carried}): using {full}"
            ));
            full
        }
    }
}

fn data_mic(
    f: &DataFrame<'_>,
    version: Version,
    ctx: &Context,
    fcnt: u32,
    notes: &mut Vec<String>,
) -> MicCheck {
    let keys = &ctx.keys;
    let conf_f_cnt = ctx.conf_fcnt.unwrap_or(0);
    if version == Version::V11 && f.fctrl().ack() && ctx.conf_fcnt.is_none() {
        notes.push("ACK is set: the 1.1 MIC covers ConfFCnt, taken as 0 (give --conf-fcnt)".into());
    }
    match (version, f.direction()) {
        (Version::V10, dir) => match keys.nwk_s_key {
            None => MicCheck::not_checked("no key given: give --nwk-s-key"),
            Some(k) => {
                let k = k.keyed();
                let result = match dir {
                    Direction::Uplink => f.verify_uplink_mic_10(&k, fcnt),
                    Direction::Downlink => f.verify_downlink_mic_10(&k, fcnt),
                };
                checked(result, "NwkSKey")
            }
        },
        (Version::V11, Direction::Downlink) => match keys.s_nwk_s_int_key {
            None => MicCheck::not_checked("no key given: give --s-nwk-s-int-key"),
            Some(k) => checked(
                f.verify_downlink_mic_11(&k.keyed(), conf_f_cnt, fcnt),
                "SNwkSIntKey",
            ),
        },
        (Version::V11, Direction::Uplink) => {
            let b1 = B1Fields {
                conf_f_cnt,
                tx_dr: ctx.tx_dr.unwrap_or(0),
                tx_ch: ctx.tx_ch.unwrap_or(0),
            };
            let cmac_s_note = (ctx.tx_dr.is_none() || ctx.tx_ch.is_none())
                .then_some("the cmacS half covers TxDr and TxCh, taken as 0 where not given");
            match (keys.f_nwk_s_int_key, keys.s_nwk_s_int_key) {
                (None, None) => MicCheck::not_checked(
                    "no key given: give --f-nwk-s-int-key and --s-nwk-s-int-key",
                ),
                (Some(fk), Some(sk)) => {
                    let mut check = checked(
                        f.verify_uplink_mic_11(&fk.keyed(), &sk.keyed(), b1, fcnt),
                        "FNwkSIntKey, SNwkSIntKey",
                    );
                    if check.valid == Some(false) {
                        check.note = cmac_s_note.map(String::from);
                    }
                    check
                }
                (Some(fk), None) => {
                    let mut check =
                        checked(f.verify_uplink_cmac_f(&fk.keyed(), fcnt), "FNwkSIntKey");
                    check.note = Some(
                        "only the cmacF half (MIC bytes 3-4) was checked: give --s-nwk-s-int-key too"
                            .into(),
                    );
                    check
                }
                (None, Some(sk)) => cmac_s_only(f, &sk.keyed(), b1, fcnt, cmac_s_note),
            }
        }
    }
}

/// Checks the cmacS half (MIC bytes 1-2) of a 1.1 uplink when no FNwkSIntKey is
/// known: the full MIC is computed with any FNwkSIntKey and its first half kept.
fn cmac_s_only(
    f: &DataFrame<'_>,
    sk: &Keyed<lorawan::keys::SNwkSIntKey>,
    b1: B1Fields,
    fcnt: u32,
    hint: Option<&str>,
) -> MicCheck {
    let any_f = FNwkSIntKey::default().keyed();
    let computed = crypto::data_uplink_mic_11(&any_f, sk, b1, f.dev_addr(), fcnt, f.mic_input());
    let (got, want) = (f.mic().0, computed.0);
    let valid = got[..2] == want[..2];
    let mut note = format!(
        "only the cmacS half (MIC bytes 1-2) was checked: computed {}; give --f-nwk-s-int-key too",
        hex(&want[..2])
    );
    if let (false, Some(h)) = (valid, hint) {
        note = format!("{note}; {h}");
    }
    MicCheck {
        valid: Some(valid),
        key: Some("SNwkSIntKey".into()),
        computed: None,
        note: Some(note),
    }
}

/// Decrypts the FRMPayload with the key its FPort calls for, if given.
fn frm_payload(
    f: &DataFrame<'_>,
    version: Version,
    keys: &Keys,
    fcnt: u32,
    notes: &mut Vec<String>,
) -> Result<Option<(Vec<u8>, &'static str)>> {
    let Some(port) = f.fport() else {
        return Ok(None);
    };
    if f.frm_payload().is_empty() {
        return Ok(None);
    }
    let network_port = port == 0 || port == 226;
    let plain = match (network_port, version) {
        (false, _) => keys.app_s_key.map(|k| decrypt(f, &k, fcnt)),
        (true, Version::V10) => keys.nwk_s_key.map(|k| decrypt(f, &k, fcnt)),
        (true, Version::V11) => keys.nwk_s_enc_key.map(|k| decrypt(f, &k, fcnt)),
    };
    let flag = match (network_port, version) {
        (false, _) => "--app-s-key",
        (true, Version::V10) => "--nwk-s-key",
        (true, Version::V11) => "--nwk-s-enc-key",
    };
    match plain {
        Some(result) => result.map(Some),
        None => {
            notes.push(format!(
                "FRMPayload (FPort {port}) not decrypted: give {flag}"
            ));
            Ok(None)
        }
    }
}

fn decrypt<K: PayloadKey>(
    f: &DataFrame<'_>,
    key: &K,
    fcnt: u32,
) -> Result<(Vec<u8>, &'static str)> {
    let mut buf = [0u8; 256];
    let plain = f
        .decrypt_frm_payload_into(&Keyed::new(key), fcnt, &mut buf)
        .map_err(|e| anyhow!("FRMPayload: {e}"))?;
    Ok((plain.to_vec(), K::ROLE))
}

/// The bytes as text, when they are UTF-8 with nothing but printable characters
/// and ordinary whitespace.
fn printable(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let ok = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    ok.then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_fcnt_prefers_what_matches_the_frame() {
        let mut notes = Vec::new();
        assert_eq!(full_fcnt(0x2aff, Some(76543), &mut notes), 76543);
        assert_eq!(full_fcnt(7, None, &mut notes), 7);
        assert!(notes.is_empty());
        assert_eq!(full_fcnt(1, Some(0x1_0005), &mut notes), 0x2_0001);
        assert_eq!(notes.len(), 1);
    }

    /// Random bytes, a frame of every MType among them, through decode, text and
    /// JSON with every key given: errors are fine, panics are not.
    #[test]
    fn random_frames_never_panic() {
        let k = |b: u8| [b; 16];
        let ctx_10 = Context {
            keys: Keys {
                app_key: Some(k(1).into()),
                nwk_s_key: Some(k(2).into()),
                app_s_key: Some(k(3).into()),
                ..Keys::default()
            },
            dev_nonce: Some(DevNonce(1)),
            fcnt: Some(0x1_0000),
            ..Context::default()
        };
        let ctx_11 = Context {
            keys: Keys {
                app_key: Some(k(1).into()),
                nwk_key: Some(k(4).into()),
                app_s_key: Some(k(3).into()),
                f_nwk_s_int_key: Some(k(5).into()),
                s_nwk_s_int_key: Some(k(6).into()),
                nwk_s_enc_key: Some(k(7).into()),
                ..Keys::default()
            },
            dev_nonce: Some(DevNonce(1)),
            join_eui: Some(Eui64::from_u64(1)),
            dev_eui: Some(Eui64::from_u64(2)),
            lorawan: Some(Version::V11),
            ..Context::default()
        };
        let ctx_rejoin = Context {
            rejoin_type: Some(1),
            rj_count: Some(3),
            ..ctx_11.clone()
        };
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..6000 {
            let len = match i % 10 {
                0 => (next() % 300) as usize,
                _ => (next() % 40) as usize,
            };
            let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Mostly major version 0, so that the frame gets past the MHDR.
            if let (Some(first), true) = (frame.first_mut(), i % 7 != 0) {
                *first &= 0xfc;
            }
            for ctx in [&ctx_10, &ctx_11, &ctx_rejoin] {
                if let Ok(report) = decode(&frame, ctx) {
                    let _ = output::render(&report);
                    serde_json::to_string(&report).unwrap();
                }
            }
        }
    }

    #[test]
    fn printable_refuses_control_bytes() {
        assert_eq!(printable(b"hello").as_deref(), Some("hello"));
        assert_eq!(printable(&[1, 2, 3]), None);
        assert_eq!(printable(&[0xff]), None);
    }
}
