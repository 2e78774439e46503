//! What `encode` is asked to build: the JSON file (in the shape `decode --json`
//! prints) and the flags, merged into typed [`Params`], the flags winning.

use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};
use lorawan::phy::{CfList, DlSettings, FCtrl, MType, RxDelay};
use lorawan::{DevAddr, DevNonce, Eui64, JoinNonce, Mic, NetId, ParseHexError};
use serde::Deserialize;

use crate::encode::EncodeArgs;
use crate::input::{self, Version};
use crate::keyring::{KeyArgs, Keys};

/// The JSON input of `encode`. Every field is optional; unknown fields (such as
/// the `mic_check` of a decode) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EncodeSpec {
    mtype: Option<String>,
    lorawan: Option<String>,
    #[serde(flatten)]
    keys: KeyArgs,
    dev_addr: Option<String>,
    fcnt: Option<u32>,
    fcnt_full: Option<u32>,
    fctrl: Option<FCtrlSpec>,
    fopts: Option<String>,
    fopts_decrypted: Option<String>,
    fport: Option<u8>,
    payload: Option<PayloadSpec>,
    frm_payload: Option<String>,
    mic: Option<String>,
    conf_fcnt: Option<u16>,
    tx_dr: Option<u8>,
    tx_ch: Option<u8>,
    join_eui: Option<String>,
    dev_eui: Option<String>,
    dev_nonce: Option<String>,
    join_nonce: Option<String>,
    #[serde(alias = "home_net_id")]
    net_id: Option<String>,
    dl_settings: Option<DlSettingsSpec>,
    rx_delay: Option<RxDelaySpec>,
    cf_list: Option<CfListSpec>,
    rejoin_type: Option<u8>,
    rj_count: Option<u16>,
}

/// FCtrl: its byte, or its bits by name (the bits win).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FCtrlSpec {
    byte: Option<String>,
    adr: Option<bool>,
    adr_ack_req: Option<bool>,
    ack: Option<bool>,
    class_b: Option<bool>,
    f_pending: Option<bool>,
}

/// The plaintext FRMPayload: hex, or an object with `hex` or `text`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PayloadSpec {
    Hex(String),
    Object {
        hex: Option<String>,
        text: Option<String>,
    },
}

/// DLSettings: its byte, or its fields by name (the fields win).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DlSettingsSpec {
    byte: Option<String>,
    opt_neg: Option<bool>,
    rx1_dr_offset: Option<u8>,
    rx2_data_rate: Option<u8>,
}

/// RxDelay: seconds, or an object with `byte` or `seconds`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RxDelaySpec {
    Seconds(u8),
    Object {
        byte: Option<String>,
        seconds: Option<u8>,
    },
}

/// CFList: five frequencies in Hz, five channel masks (4 hex digits), or 16 bytes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CfListSpec {
    frequencies: Option<Vec<u32>>,
    channel_masks: Option<Vec<String>>,
    bytes: Option<String>,
}

/// Everything `encode` needs, typed.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub(crate) mtype: MType,
    pub(crate) lorawan: Option<Version>,
    pub(crate) keys: Keys,
    pub(crate) dev_addr: Option<DevAddr>,
    pub(crate) fcnt: u32,
    pub(crate) fctrl: FCtrl,
    pub(crate) fopts: Vec<u8>,
    pub(crate) fport: Option<u8>,
    /// Plaintext FRMPayload, to be encrypted.
    pub(crate) payload: Option<Vec<u8>>,
    /// FRMPayload as carried, written as is.
    pub(crate) frm_payload: Option<Vec<u8>>,
    pub(crate) mic: Option<Mic>,
    pub(crate) conf_fcnt: u16,
    pub(crate) tx_dr: u8,
    pub(crate) tx_ch: u8,
    pub(crate) join_eui: Option<Eui64>,
    pub(crate) dev_eui: Option<Eui64>,
    pub(crate) dev_nonce: Option<DevNonce>,
    pub(crate) join_nonce: Option<JoinNonce>,
    pub(crate) net_id: Option<NetId>,
    /// OptNeg if given; otherwise it follows the LoRaWAN version.
    pub(crate) opt_neg: Option<bool>,
    pub(crate) rx1_dr_offset: u8,
    pub(crate) rx2_data_rate: u8,
    pub(crate) rx_delay: RxDelay,
    pub(crate) cf_list: Option<CfList>,
    pub(crate) rejoin_type: Option<u8>,
    pub(crate) rj_count: u16,
}

impl Params {
    /// DLSettings, with OptNeg defaulting to `default_opt_neg`.
    pub(crate) fn dl_settings(&self, default_opt_neg: bool) -> Result<DlSettings> {
        DlSettings::new(
            self.opt_neg.unwrap_or(default_opt_neg),
            self.rx1_dr_offset,
            self.rx2_data_rate,
        )
        .ok_or_else(|| {
            anyhow!(
                "DLSettings: RX1DROffset {} (max 7) or RX2DataRate {} (max 15) out of range",
                self.rx1_dr_offset,
                self.rx2_data_rate
            )
        })
    }
}

/// Reads the JSON file (`-` for stdin).
pub(crate) fn read_spec(path: &str) -> Result<EncodeSpec> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin()).context("--json: cannot read stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("--json: cannot read {path}"))?
    };
    serde_json::from_str(&text).map_err(|e| anyhow!("--json {path}: {e}"))
}

/// The flag's value if given, else the JSON field's, parsed; errors name the source.
fn pick<T: FromStr<Err = ParseHexError>>(
    flag: &str,
    cli: Option<&str>,
    field: &str,
    json: Option<&str>,
) -> Result<Option<T>> {
    match (cli, json) {
        (Some(c), _) => input::hex(flag, c).map(Some),
        (None, Some(j)) => input::hex(field, j).map(Some),
        (None, None) => Ok(None),
    }
}

/// The MType from its name, in any case, with `-`, `_` or spaces, or a short alias.
pub(crate) fn mtype(name: &str) -> Result<MType> {
    let n: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(match n.as_str() {
        "unconfirmeddataup" | "dataup" | "up" => MType::UnconfirmedDataUp,
        "confirmeddataup" => MType::ConfirmedDataUp,
        "unconfirmeddatadown" | "datadown" | "down" => MType::UnconfirmedDataDown,
        "confirmeddatadown" => MType::ConfirmedDataDown,
        "joinrequest" => MType::JoinRequest,
        "joinaccept" => MType::JoinAccept,
        "rejoinrequest" | "rejoin" => MType::RejoinRequest,
        "proprietary" => MType::Proprietary,
        _ => bail!(
            "unknown MType {name:?}: expected unconfirmed-data-up, confirmed-data-up, \
             unconfirmed-data-down, confirmed-data-down, join-request, join-accept, \
             rejoin-request or proprietary"
        ),
    })
}

/// Merges the flags over the JSON file.
pub(crate) fn params(a: &EncodeArgs, j: &EncodeSpec) -> Result<Params> {
    let mtype = match (&a.mtype, &j.mtype) {
        (Some(m), _) => mtype(m).context("--mtype")?,
        (None, Some(m)) => mtype(m).context("mtype")?,
        (None, None) => {
            bail!("give --mtype (or \"mtype\" in the JSON), e.g. --mtype unconfirmed-data-up")
        }
    };
    let lorawan = match (a.lorawan, &j.lorawan) {
        (Some(v), _) => Some(v),
        (None, Some(v)) => Some(v.parse::<Version>().context("lorawan")?),
        (None, None) => None,
    };
    let keys = Keys::from_flags(&a.keys)?.or(Keys::from_json(&j.keys)?);
    let fopts = match (&a.fopts, &j.fopts_decrypted, &j.fopts) {
        (Some(f), _, _) => input::bytes("--fopts", f)?,
        (None, Some(f), _) => input::bytes("fopts_decrypted", f)?,
        (None, None, Some(f)) => input::bytes("fopts", f)?,
        (None, None, None) => Vec::new(),
    };
    let payload = match (&a.payload, &a.text, &j.payload) {
        (Some(p), _, _) => Some(input::bytes("--payload", p)?),
        (None, Some(t), _) => Some(t.as_bytes().to_vec()),
        (None, None, Some(PayloadSpec::Hex(p))) => Some(input::bytes("payload", p)?),
        (None, None, Some(PayloadSpec::Object { hex: Some(p), .. })) => {
            Some(input::bytes("payload.hex", p)?)
        }
        (None, None, Some(PayloadSpec::Object { text: Some(t), .. })) => {
            Some(t.as_bytes().to_vec())
        }
        _ => None,
    };
    let frm_payload = match (&a.frm_payload, &j.frm_payload) {
        (Some(p), _) => Some(input::bytes("--frm-payload", p)?),
        (None, Some(p)) => Some(input::bytes("frm_payload", p)?),
        (None, None) => None,
    };
    let dl = j.dl_settings.as_ref();
    let dl_byte: Option<u8> = dl
        .and_then(|d| d.byte.as_deref())
        .map(|b| hex_byte("dl_settings.byte", b))
        .transpose()?;
    let dl_base = dl_byte.map(DlSettings);
    Ok(Params {
        mtype,
        lorawan,
        keys,
        dev_addr: pick(
            "--dev-addr",
            a.dev_addr.as_deref(),
            "dev_addr",
            j.dev_addr.as_deref(),
        )?,
        fcnt: a.fcnt.or(j.fcnt_full).or(j.fcnt).unwrap_or(0),
        fctrl: fctrl(a, j.fctrl.as_ref())?,
        fopts,
        fport: a.fport.or(j.fport),
        payload,
        frm_payload,
        mic: pick("--mic", a.mic.as_deref(), "mic", j.mic.as_deref())?,
        conf_fcnt: a.conf_fcnt.or(j.conf_fcnt).unwrap_or(0),
        tx_dr: a.tx_dr.or(j.tx_dr).unwrap_or(0),
        tx_ch: a.tx_ch.or(j.tx_ch).unwrap_or(0),
        join_eui: pick(
            "--join-eui",
            a.join_eui.as_deref(),
            "join_eui",
            j.join_eui.as_deref(),
        )?,
        dev_eui: pick(
            "--dev-eui",
            a.dev_eui.as_deref(),
            "dev_eui",
            j.dev_eui.as_deref(),
        )?,
        dev_nonce: pick(
            "--dev-nonce",
            a.dev_nonce.as_deref(),
            "dev_nonce",
            j.dev_nonce.as_deref(),
        )?,
        join_nonce: pick(
            "--join-nonce",
            a.join_nonce.as_deref(),
            "join_nonce",
            j.join_nonce.as_deref(),
        )?,
        net_id: pick(
            "--net-id",
            a.net_id.as_deref(),
            "net_id",
            j.net_id.as_deref(),
        )?,
        opt_neg: dl.and_then(|d| d.opt_neg).or(dl_base.map(|b| b.opt_neg())),
        rx1_dr_offset: a
            .rx1_dr_offset
            .or(dl.and_then(|d| d.rx1_dr_offset))
            .or(dl_base.map(|b| b.rx1_dr_offset()))
            .unwrap_or(0),
        rx2_data_rate: a
            .rx2_dr
            .or(dl.and_then(|d| d.rx2_data_rate))
            .or(dl_base.map(|b| b.rx2_data_rate()))
            .unwrap_or(0),
        rx_delay: rx_delay(a.rx_delay, j.rx_delay.as_ref())?,
        cf_list: cf_list(a, j.cf_list.as_ref())?,
        rejoin_type: a.rejoin_type.or(j.rejoin_type),
        rj_count: a.rj_count.or(j.rj_count).unwrap_or(0),
    })
}

fn hex_byte(what: &str, text: &str) -> Result<u8> {
    match input::bytes(what, text)?.as_slice() {
        [b] => Ok(*b),
        other => bail!("{what}: expected 2 hex digits, got {}", 2 * other.len()),
    }
}

fn fctrl(a: &EncodeArgs, j: Option<&FCtrlSpec>) -> Result<FCtrl> {
    let mut c = match j.and_then(|j| j.byte.as_deref()) {
        Some(b) => FCtrl(hex_byte("fctrl.byte", b)?),
        None => FCtrl::default(),
    };
    if let Some(j) = j {
        c = c.with_adr(j.adr.unwrap_or(c.adr()));
        c = c.with_adr_ack_req(j.adr_ack_req.unwrap_or(c.adr_ack_req()));
        c = c.with_ack(j.ack.unwrap_or(c.ack()));
        c = c.with_f_pending(j.f_pending.or(j.class_b).unwrap_or(c.f_pending()));
    }
    // Flags can only set bits: an unset flag is no statement.
    Ok(c.with_adr(c.adr() || a.adr)
        .with_adr_ack_req(c.adr_ack_req() || a.adr_ack_req)
        .with_ack(c.ack() || a.ack)
        .with_f_pending(c.f_pending() || a.f_pending))
}

fn rx_delay(flag: Option<u8>, j: Option<&RxDelaySpec>) -> Result<RxDelay> {
    let seconds = match (flag, j) {
        (Some(s), _) => s,
        (None, Some(RxDelaySpec::Object { byte: Some(b), .. })) => {
            return Ok(RxDelay(hex_byte("rx_delay.byte", b)?));
        }
        (None, Some(RxDelaySpec::Seconds(s)))
        | (
            None,
            Some(RxDelaySpec::Object {
                seconds: Some(s), ..
            }),
        ) => *s,
        _ => 0,
    };
    if seconds > 15 {
        bail!("RxDelay of {seconds} s: at most 15");
    }
    Ok(RxDelay(seconds))
}

fn cf_list(a: &EncodeArgs, j: Option<&CfListSpec>) -> Result<Option<CfList>> {
    if let Some(list) = &a.cf_list_freqs {
        let hz = list
            .split(',')
            .map(|f| input::frequency("--cf-list-freqs", f))
            .collect::<Result<Vec<_>>>()?;
        return frequencies("--cf-list-freqs", &hz).map(Some);
    }
    if let Some(list) = &a.cf_list_masks {
        let masks: Vec<&str> = list.split(',').collect();
        return masks_list("--cf-list-masks", &masks).map(Some);
    }
    let Some(j) = j else { return Ok(None) };
    if let Some(hz) = &j.frequencies {
        return frequencies("cf_list.frequencies", hz).map(Some);
    }
    if let Some(m) = &j.channel_masks {
        let masks: Vec<&str> = m.iter().map(String::as_str).collect();
        return masks_list("cf_list.channel_masks", &masks).map(Some);
    }
    match &j.bytes {
        Some(b) => {
            let bytes = input::bytes("cf_list.bytes", b)?;
            let arr: [u8; 16] = bytes.as_slice().try_into().map_err(|_| {
                anyhow!(
                    "cf_list.bytes: expected 32 hex digits, got {}",
                    2 * bytes.len()
                )
            })?;
            Ok(Some(CfList(arr)))
        }
        None => Ok(None),
    }
}

fn frequencies(what: &str, hz: &[u32]) -> Result<CfList> {
    if hz.len() > 5 {
        bail!("{what}: at most 5 frequencies, got {}", hz.len());
    }
    let mut five = [0u32; 5];
    five.iter_mut().zip(hz).for_each(|(d, s)| *d = *s);
    CfList::from_frequencies(five).ok_or_else(|| {
        anyhow!("{what}: frequencies must be multiples of 100 Hz below 1677.7216 MHz")
    })
}

fn masks_list(what: &str, masks: &[&str]) -> Result<CfList> {
    if masks.len() > 5 {
        bail!("{what}: at most 5 channel masks, got {}", masks.len());
    }
    let mut five = [0u16; 5];
    for (d, m) in five.iter_mut().zip(masks) {
        let m = m.trim();
        let m = m.strip_prefix("0x").unwrap_or(m);
        *d = u16::from_str_radix(m, 16)
            .map_err(|_| anyhow!("{what}: {m:?} is not a 16-bit hex channel mask"))?;
    }
    Ok(CfList::from_channel_masks(five))
}
