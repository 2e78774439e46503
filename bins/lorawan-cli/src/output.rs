//! Text rendering of reports: one field per line, label first, in frame order.

use std::fmt::Write;

use serde_json::Value;

use crate::report::{
    DataReport, DevAddrInfo, FrameReport, JoinAcceptReport, JoinRequestReport, MacReport, MicCheck,
    RejoinReport, Report, SessionKeysReport,
};

/// Width of the label column.
const LABEL: usize = 12;

/// Collects labelled lines.
struct Lines(String);

impl Lines {
    fn line(&mut self, label: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{label:<LABEL$}{value}");
    }
    fn raw(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{text}");
    }
}

/// The text of a decoded frame.
pub(crate) fn render(r: &Report) -> String {
    let mut out = Lines(String::new());
    out.line(
        "PHYPayload",
        format_args!("{} ({} bytes)", r.phy_payload, r.length),
    );
    let dir = r.direction.map(|d| format!(" ({d})")).unwrap_or_default();
    out.line(
        "MHDR",
        format_args!("{}: MType {}{dir}, Major {}", r.mhdr, r.mtype, r.major),
    );
    match &r.frame {
        FrameReport::Data(d) => data(&mut out, d),
        FrameReport::JoinRequest(j) => join_request(&mut out, j),
        FrameReport::JoinAccept(j) => join_accept(&mut out, j),
        FrameReport::RejoinRequest(j) => rejoin(&mut out, j),
        FrameReport::Proprietary { payload } => out.line("Payload", or_none(payload)),
    }
    for note in &r.notes {
        out.raw(format_args!("note: {note}"));
    }
    out.0
}

fn or_none(hex: &str) -> &str {
    if hex.is_empty() { "(none)" } else { hex }
}

fn bit(b: bool) -> u8 {
    u8::from(b)
}

fn dev_addr_info(i: &DevAddrInfo) -> String {
    match (i.net_id_type, i.nwk_id, i.nwk_addr) {
        (Some(t), Some(id), Some(addr)) => {
            format!("NetID type {t}, NwkID {id:#x}, NwkAddr {addr:#x}")
        }
        _ => "reserved address prefix".to_owned(),
    }
}

fn mic(out: &mut Lines, mic: impl std::fmt::Display, check: &MicCheck) {
    let key = check.key.as_deref().unwrap_or("");
    let status = match check.valid {
        Some(true) => format!("valid ({key})"),
        Some(false) => match check.computed {
            Some(c) => format!("INVALID ({key} gives {c})"),
            None => format!("INVALID ({key})"),
        },
        None if check.key.is_some() => format!("not checked ({key})"),
        None => "not checked".to_owned(),
    };
    let note = match (&check.note, check.valid) {
        (Some(n), None) if check.key.is_none() => format!(" ({n})"),
        (Some(n), _) => format!("; {n}"),
        (None, _) => String::new(),
    };
    out.line("MIC", format_args!("{mic}: {status}{note}"));
}

fn data(out: &mut Lines, d: &DataReport) {
    out.line(
        "DevAddr",
        format_args!("{} ({})", d.dev_addr, dev_addr_info(&d.dev_addr_info)),
    );
    let c = &d.fctrl;
    let bits = match (c.adr_ack_req, c.class_b, c.f_pending) {
        (Some(req), Some(b), _) => format!(
            "ADR {}, ADRACKReq {}, ACK {}, ClassB {}",
            bit(c.adr),
            bit(req),
            bit(c.ack),
            bit(b)
        ),
        (_, _, p) => format!(
            "ADR {}, ACK {}, FPending {}",
            bit(c.adr),
            bit(c.ack),
            bit(p.unwrap_or(false))
        ),
    };
    out.line(
        "FCtrl",
        format_args!("{}: {bits}, FOptsLen {}", c.byte, c.f_opts_len),
    );
    out.line(
        "FCnt",
        format_args!("{} (full counter {})", d.fcnt, d.fcnt_full),
    );
    match &d.fopts_decrypted {
        Some(plain) => out.line(
            "FOpts",
            format_args!("{} (encrypted; decrypted {plain})", d.fopts),
        ),
        None => out.line("FOpts", or_none(&d.fopts)),
    }
    match d.fport {
        Some(p) => out.line("FPort", p),
        None => out.line("FPort", "(none)"),
    }
    if d.fport.is_some() {
        let n = d.frm_payload.len() / 2;
        out.line(
            "FRMPayload",
            format_args!("{} ({n} bytes, encrypted)", or_none(&d.frm_payload)),
        );
    }
    mic(out, d.mic, &d.mic_check);
    if let Some(p) = &d.payload {
        let text = p
            .text
            .as_deref()
            .map(|t| format!(" {t:?}"))
            .unwrap_or_default();
        out.line(
            "Payload",
            format_args!("{}{text} (decrypted with {})", p.hex, p.key),
        );
    }
    out.line("LoRaWAN", format_args!("{} (rules applied)", d.lorawan));
    mac_commands(out, &d.mac_commands);
}

fn mac_commands(out: &mut Lines, list: &[MacReport]) {
    let mut source = "";
    for m in list {
        if m.source != source {
            source = m.source;
            out.raw(format_args!("MAC commands in {source}:"));
        }
        match (&m.error, m.name) {
            (Some(e), _) => out.raw(format_args!(
                "  error: {e} (bytes {})",
                m.bytes.as_deref().unwrap_or("")
            )),
            (None, Some(name)) => {
                let fields = m.fields.as_ref().map(fields_text).unwrap_or_default();
                let sep = if fields.is_empty() { "" } else { ": " };
                out.raw(format_args!(
                    "  {name}{sep}{fields} [{}]",
                    m.bytes.as_deref().unwrap_or("")
                ));
            }
            (None, None) => {}
        }
    }
}

/// `margin 7, gw_cnt 1` from `{"margin": 7, "gw_cnt": 1}`.
fn fields_text(v: &Value) -> String {
    match v {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k} {}", value_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => value_text(other),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(_) => format!("{{{}}}", fields_text(v)),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

fn join_request(out: &mut Lines, j: &JoinRequestReport) {
    out.line("JoinEUI", j.join_eui);
    out.line("DevEUI", j.dev_eui);
    out.line(
        "DevNonce",
        format_args!("{} ({})", j.dev_nonce, j.dev_nonce.0),
    );
    mic(out, j.mic, &j.mic_check);
}

fn rejoin(out: &mut Lines, r: &RejoinReport) {
    out.line("RejoinType", r.rejoin_type);
    if let Some(n) = r.net_id {
        out.line("NetID", n);
    }
    if let Some(e) = r.join_eui {
        out.line("JoinEUI", e);
    }
    out.line("DevEUI", r.dev_eui);
    let label = if r.rejoin_type == 1 {
        "RJcount1"
    } else {
        "RJcount0"
    };
    out.line(label, r.rj_count);
    mic(out, r.mic, &r.mic_check);
}

fn join_accept(out: &mut Lines, j: &JoinAcceptReport) {
    out.line("Encrypted", &j.encrypted);
    let Some(f) = &j.fields else {
        mic(out, "(encrypted)", &j.mic_check);
        return;
    };
    out.line(
        "Decrypted",
        format_args!("{} (with {})", f.plaintext, j.decrypted_with.unwrap_or("?")),
    );
    out.line(
        "JoinNonce",
        format_args!("{} ({})", f.join_nonce, f.join_nonce.to_u32()),
    );
    out.line(
        "Home_NetID",
        format_args!("{} (type {})", f.home_net_id, f.home_net_id.net_id_type()),
    );
    out.line(
        "DevAddr",
        format_args!("{} ({})", f.dev_addr, dev_addr_info(&f.dev_addr_info)),
    );
    let dl = &f.dl_settings;
    out.line(
        "DLSettings",
        format_args!(
            "{}: OptNeg {}, RX1DROffset {}, RX2DataRate {}",
            dl.byte,
            bit(dl.opt_neg),
            dl.rx1_dr_offset,
            dl.rx2_data_rate
        ),
    );
    out.line(
        "RxDelay",
        format_args!("{}: {} s", f.rx_delay.byte, f.rx_delay.seconds),
    );
    match &f.cf_list {
        None => out.line("CFList", "(none)"),
        Some(cf) => {
            let detail = match (&cf.frequencies, &cf.channel_masks) {
                (Some(fr), _) => {
                    let mhz: Vec<String> = fr
                        .iter()
                        .map(|&hz| match hz {
                            0 => "-".to_owned(),
                            hz => format!("{}", f64::from(hz) / 1e6),
                        })
                        .collect();
                    format!("frequencies (MHz) {}", mhz.join(", "))
                }
                (_, Some(m)) => format!("channel masks {}", m.join(", ")),
                _ => format!("reserved type, bytes {}", cf.bytes),
            };
            out.line("CFList", detail);
        }
    }
    mic(out, f.mic, &j.mic_check);
    if let Some(k) = &j.session_keys {
        out.raw(format_args!("Session keys (LoRaWAN {}):", k.lorawan));
        session_keys(out, k, "  ");
    }
}

/// The keys of a derivation, one per line.
fn session_keys(out: &mut Lines, k: &SessionKeysReport, indent: &str) {
    let mut key = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            out.raw(format_args!("{indent}{name:<13}{v}"));
        }
    };
    key("NwkSKey", k.nwk_s_key.map(|k| k.to_string()));
    key("FNwkSIntKey", k.f_nwk_s_int_key.map(|k| k.to_string()));
    key("SNwkSIntKey", k.s_nwk_s_int_key.map(|k| k.to_string()));
    key("NwkSEncKey", k.nwk_s_enc_key.map(|k| k.to_string()));
    key("AppSKey", k.app_s_key.map(|k| k.to_string()));
    key("JSIntKey", k.js_int_key.map(|k| k.to_string()));
    key("JSEncKey", k.js_enc_key.map(|k| k.to_string()));
}

/// The text of a key derivation.
pub(crate) fn render_keys(k: &SessionKeysReport) -> String {
    let mut out = Lines(String::new());
    session_keys(&mut out, k, "");
    out.0
}
