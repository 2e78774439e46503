//! `lorawan-cli region`: the Regional Parameters of a region at a revision, as
//! tables a person can read (or one JSON object).

use std::fmt::Write;

use anyhow::Result;
use clap::Args;
use lorawan::modulation::{LoraCodingRate, LrFhssCodingRate, Modulation};
use lorawan::region::{
    self, BeaconFrequency, ChannelGrid, ChannelPlan, MaxPayload, Region, RegionParams, Revision,
    timing,
};
use serde_json::{Value, json};

use crate::airtime::{lora_params, mhz, mhz_range, percent};

/// Arguments of `region`.
#[derive(Debug, Args)]
pub(crate) struct RegionArgs {
    /// The region: EU868, US915, CN779, EU433, AU915, CN470, AS923-1..4, KR920,
    /// IN865, RU864, ISM2400.
    #[arg(value_parser = parse_region)]
    region: Region,
    /// The Regional Parameters revision (A, B, RP002-1.0.0 .. RP002-1.0.4; default: the latest).
    #[arg(long, value_parser = parse_revision)]
    revision: Option<Revision>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_region(s: &str) -> Result<Region, String> {
    s.parse::<Region>().map_err(|e| e.to_string())
}

fn parse_revision(s: &str) -> Result<Revision, String> {
    s.parse::<Revision>().map_err(|e| e.to_string())
}

/// Runs `region` and returns what to print.
pub(crate) fn run(args: &RegionArgs) -> Result<String> {
    let revision = args.revision.unwrap_or(Revision::LATEST);
    let params = region::params(args.region, revision);
    if args.json {
        Ok(serde_json::to_string_pretty(&json_of(params, revision))? + "\n")
    } else {
        Ok(text(params, revision))
    }
}

/// The coding rate LoRaWAN uses at a data rate, as the packet forwarder writes it.
fn coding_rate(m: &Modulation) -> Option<&'static str> {
    match m {
        Modulation::Lora { .. } => lora_params(m).map(|p| p.coding_rate.as_str()),
        Modulation::LrFhss { coding_rate, .. } => Some(coding_rate.as_str()),
        Modulation::Fsk { .. } => None,
    }
}

/// The physical bit rate, rounded down: SF − 2·LDRO bits per symbol at the
/// coding rate for LoRa (the "indicative" rates of the Regional Parameters),
/// 488.28125 bit/s at the coding rate for LR-FHSS.
fn bit_rate(m: &Modulation) -> Option<u64> {
    match *m {
        Modulation::Lora {
            spreading_factor,
            bandwidth,
        } => {
            let p = lora_params(m)?;
            let ldro = p.low_data_rate_optimized().ok()?;
            let bits = u64::from(spreading_factor) - if ldro { 2 } else { 0 };
            let (num, den) = match p.coding_rate {
                LoraCodingRate::Cr4_5 | LoraCodingRate::Cr4_5Li => (4, 5),
                LoraCodingRate::Cr4_6 | LoraCodingRate::Cr4_6Li => (4, 6),
                LoraCodingRate::Cr4_7 => (4, 7),
                LoraCodingRate::Cr4_8 | LoraCodingRate::Cr4_8Li => (4, 8),
            };
            Some(bits * u64::from(bandwidth) * num / (den << spreading_factor))
        }
        Modulation::Fsk { bitrate } => Some(u64::from(bitrate)),
        Modulation::LrFhss { coding_rate, .. } => {
            // 488.28125 = 125 000 / 256.
            let (num, den) = match coding_rate {
                LrFhssCodingRate::Cr1_3 => (1, 3),
                LrFhssCodingRate::Cr2_3 => (2, 3),
                LrFhssCodingRate::Cr1_2 => (1, 2),
                LrFhssCodingRate::Cr5_6 => (5, 6),
            };
            Some(125_000 * num / (256 * den))
        }
    }
}

fn m_n(p: Option<MaxPayload>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{}/{}", p.m, p.n))
}

fn table_entry(table: Option<&[Option<MaxPayload>]>, dr: usize) -> Option<MaxPayload> {
    table.and_then(|t| t.get(dr).copied().flatten())
}

/// `902.300 MHz + n × 200 kHz (to 914.900 MHz)`.
fn grid_text(g: &ChannelGrid) -> String {
    let last =
        u64::from(g.first_frequency) + u64::from(g.step) * u64::from(g.count.saturating_sub(1));
    let step = if g.step.is_multiple_of(1_000_000) {
        format!("{} MHz", g.step / 1_000_000)
    } else if g.step.is_multiple_of(1000) {
        format!("{} kHz", g.step / 1000)
    } else {
        format!("{} Hz", g.step)
    };
    let last = u32::try_from(last).map_or_else(|_| "?".to_owned(), mhz);
    format!("{} + n × {step} (to {last})", mhz(g.first_frequency))
}

fn dr_range(min: u8, max: u8) -> String {
    if min == max {
        format!("DR{min}")
    } else {
        format!("DR{min}-{max}")
    }
}

fn beacon_frequency(f: &BeaconFrequency) -> String {
    match f {
        BeaconFrequency::Fixed(hz) => format!("on {}", mhz(*hz)),
        BeaconFrequency::Hopping {
            first_frequency,
            step,
            count,
        } => format!(
            "hopping over {count} channels: {}",
            grid_text(&ChannelGrid {
                first_frequency: *first_frequency,
                step: *step,
                count: *count,
                min_dr: 0,
                max_dr: 0,
            })
        ),
    }
}

fn modulation_of(p: &RegionParams, dr: u8) -> String {
    p.data_rates
        .get(usize::from(dr))
        .copied()
        .flatten()
        .map_or_else(|| "undefined".to_owned(), |d| d.modulation.to_string())
}

fn dbm(v: f32) -> String {
    format!("{v} dBm")
}

fn text(p: &RegionParams, revision: Revision) -> String {
    let mut out = String::new();
    let mut w = |s: String| {
        let _ = writeln!(out, "{s}");
    };
    if p.revision == revision {
        w(format!("{}, Regional Parameters {revision}", p.region));
    } else {
        w(format!(
            "{}, Regional Parameters {revision} (tables as of {})",
            p.region, p.revision
        ));
    }
    w(String::new());

    w("Data rates (max payload M/N in bytes)".to_owned());
    let dwell = p.max_payload_dwell_time.is_some();
    let repeater = p.max_payload_repeater.is_some();
    let mut header = format!(
        "  {:<4}{:<30}{:>12}  {:<9}",
        "DR", "Modulation", "Bit rate", "M/N"
    );
    if dwell {
        header += &format!("{:<11}", "Dwell M/N");
    }
    if repeater {
        header += &format!("{:<14}", "Repeater M/N");
    }
    header += "Use";
    w(header);
    for (i, dr) in p.data_rates.iter().enumerate() {
        let Some(dr) = dr else {
            continue;
        };
        let m = &dr.modulation;
        let modulation = match coding_rate(m) {
            Some(cr) if matches!(m, Modulation::Lora { .. }) => format!("{m} CR{cr}"),
            _ => m.to_string(),
        };
        let rate = bit_rate(m).map_or_else(|| "-".to_owned(), |r| format!("{r} bit/s"));
        let use_ = match (dr.uplink, dr.downlink) {
            (true, true) => "up, down",
            (true, false) => "up",
            (false, true) => "down",
            (false, false) => "-",
        };
        let mut row = format!(
            "  {:<4}{:<30}{:>12}  {:<9}",
            i,
            modulation,
            rate,
            m_n(table_entry(Some(p.max_payload), i))
        );
        if dwell {
            row += &format!("{:<11}", m_n(table_entry(p.max_payload_dwell_time, i)));
        }
        if repeater {
            row += &format!("{:<14}", m_n(table_entry(p.max_payload_repeater, i)));
        }
        row += use_;
        w(row);
    }

    let mut rx1 = |title: &str, table: &[&[Option<u8>]]| {
        w(String::new());
        w(format!("{title} (uplink DR, then RX1DROffset 0..)"));
        let offsets = table.iter().map(|r| r.len()).max().unwrap_or(0);
        let mut h = "  DR  ".to_owned();
        for o in 0..offsets {
            h += &format!("{o:>4}");
        }
        w(h);
        for (dr, row) in table.iter().enumerate() {
            if row.is_empty() {
                continue;
            }
            let mut r = format!("  {dr:<4}");
            for v in *row {
                r += &v.map_or_else(|| format!("{:>4}", "-"), |v| format!("{v:>4}"));
            }
            w(r);
        }
    };
    rx1("RX1 data rate", p.rx1_dr);
    if let Some(t) = p.rx1_dr_dwell_time {
        rx1("RX1 data rate with the downlink dwell-time limit", t);
    }

    w(String::new());
    match &p.channel_plan {
        ChannelPlan::Dynamic {
            default_channels,
            max_channels,
        } => {
            w(format!(
                "Default channels (a device holds up to {max_channels})"
            ));
            for (i, c) in default_channels.iter().enumerate() {
                w(format!(
                    "  {i:<4}{}  {}",
                    mhz(c.frequency),
                    dr_range(c.min_dr, c.max_dr)
                ));
            }
        }
        ChannelPlan::Fixed {
            uplink,
            uplink_wide,
            downlink,
            uplink_group2,
            downlink_group2,
        } => {
            w("Channels (fixed grid)".to_owned());
            let mut grid = |name: &str, first: &mut usize, g: &ChannelGrid| {
                let last = *first + usize::from(g.count).saturating_sub(1);
                w(format!(
                    "  {name:<9}{:<8}{}  {}",
                    format!("{first}-{last}"),
                    grid_text(g),
                    dr_range(g.min_dr, g.max_dr)
                ));
                *first = last + 1;
            };
            let mut next = 0;
            for g in [Some(uplink), uplink_wide.as_ref(), uplink_group2.as_ref()]
                .into_iter()
                .flatten()
            {
                grid("uplink", &mut next, g);
            }
            let mut next = 0;
            for g in [Some(downlink), downlink_group2.as_ref()]
                .into_iter()
                .flatten()
            {
                grid("downlink", &mut next, g);
            }
            w("  RX1 uses downlink channel (uplink channel mod downlink count)".to_owned());
        }
    }

    w(String::new());
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<13}{value}");
    };
    line(
        "RX2",
        format!(
            "{}, DR{} ({})",
            mhz(p.rx2_frequency),
            p.rx2_dr,
            modulation_of(p, p.rx2_dr)
        ),
    );
    let powers: Vec<String> = p
        .tx_power_offsets
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| format!("{i}: {}", dbm(p.default_max_eirp + f32::from(o)))))
        .collect();
    line(
        "TX power",
        format!(
            "EIRP by TXPower index (MaxEIRP {})",
            dbm(p.default_max_eirp)
        ),
    );
    for chunk in powers.chunks(8) {
        line("", chunk.join(", "));
    }
    match &p.class_b {
        Some(b) => {
            line(
                "Beacon",
                format!(
                    "DR{} ({}) {}",
                    b.beacon_dr,
                    modulation_of(p, b.beacon_dr),
                    beacon_frequency(&b.beacon_frequency)
                ),
            );
            line(
                "Ping slots",
                format!(
                    "DR{} ({}) {}",
                    b.ping_slot_dr,
                    modulation_of(p, b.ping_slot_dr),
                    beacon_frequency(&b.ping_slot_frequency)
                ),
            );
        }
        None => line("Class B", "not defined in this region".to_owned()),
    }
    if p.duty_cycle_bands.is_empty() {
        line("Duty cycle", "none".to_owned());
    }
    for (i, b) in p.duty_cycle_bands.iter().enumerate() {
        line(
            if i == 0 { "Duty cycle" } else { "" },
            format!(
                "{}: {}",
                mhz_range(b.min_frequency, b.max_frequency),
                percent(b.max_duty_cycle_ppm10k)
            ),
        );
    }
    line(
        "Dwell time",
        format!(
            "400 ms limit {} at join; TxParamSetupReq {}",
            if p.default_dwell_time {
                "applies"
            } else {
                "does not apply"
            },
            if p.tx_param_setup {
                "supported"
            } else {
                "not supported"
            }
        ),
    );
    line(
        "Delays",
        format!(
            "RECEIVE_DELAY1 {} s, RECEIVE_DELAY2 {} s, JOIN_ACCEPT_DELAY1 {} s, JOIN_ACCEPT_DELAY2 {} s",
            timing::RECEIVE_DELAY1,
            timing::RECEIVE_DELAY2,
            timing::JOIN_ACCEPT_DELAY1,
            timing::JOIN_ACCEPT_DELAY2
        ),
    );
    line(
        "ADR",
        format!(
            "ADR_ACK_LIMIT {}, ADR_ACK_DELAY {}",
            timing::ADR_ACK_LIMIT,
            timing::ADR_ACK_DELAY
        ),
    );
    out
}

fn payload_json(p: Option<MaxPayload>) -> Value {
    p.map_or(Value::Null, |p| json!({ "m": p.m, "n": p.n }))
}

fn grid_json(g: &ChannelGrid) -> Value {
    json!({
        "first_frequency": g.first_frequency,
        "step": g.step,
        "count": g.count,
        "min_dr": g.min_dr,
        "max_dr": g.max_dr,
    })
}

fn beacon_json(f: &BeaconFrequency) -> Value {
    match f {
        BeaconFrequency::Fixed(hz) => json!({ "frequency": hz }),
        BeaconFrequency::Hopping {
            first_frequency,
            step,
            count,
        } => {
            json!({ "hopping": { "first_frequency": first_frequency, "step": step, "count": count } })
        }
    }
}

fn rx1_json(t: &[&[Option<u8>]]) -> Value {
    json!(t.iter().map(|row| row.to_vec()).collect::<Vec<_>>())
}

fn json_of(p: &RegionParams, revision: Revision) -> Value {
    let data_rates: Vec<Value> = p
        .data_rates
        .iter()
        .enumerate()
        .map(|(i, dr)| match dr {
            None => Value::Null,
            Some(dr) => {
                let mut v = serde_json::to_value(dr.modulation).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("dr".into(), json!(i));
                    o.insert("coding_rate".into(), json!(coding_rate(&dr.modulation)));
                    o.insert("bit_rate".into(), json!(bit_rate(&dr.modulation)));
                    o.insert("uplink".into(), json!(dr.uplink));
                    o.insert("downlink".into(), json!(dr.downlink));
                    o.insert(
                        "max_payload".into(),
                        payload_json(table_entry(Some(p.max_payload), i)),
                    );
                    if p.max_payload_dwell_time.is_some() {
                        o.insert(
                            "max_payload_dwell_time".into(),
                            payload_json(table_entry(p.max_payload_dwell_time, i)),
                        );
                    }
                    if p.max_payload_repeater.is_some() {
                        o.insert(
                            "max_payload_repeater".into(),
                            payload_json(table_entry(p.max_payload_repeater, i)),
                        );
                    }
                }
                v
            }
        })
        .collect();
    let channels = match &p.channel_plan {
        ChannelPlan::Dynamic {
            default_channels,
            max_channels,
        } => json!({
            "type": "dynamic",
            "max_channels": max_channels,
            "default_channels": default_channels.iter().map(|c| json!({
                "frequency": c.frequency, "min_dr": c.min_dr, "max_dr": c.max_dr,
            })).collect::<Vec<_>>(),
        }),
        ChannelPlan::Fixed {
            uplink,
            uplink_wide,
            downlink,
            uplink_group2,
            downlink_group2,
        } => json!({
            "type": "fixed",
            "uplink": grid_json(uplink),
            "uplink_wide": uplink_wide.as_ref().map(grid_json),
            "uplink_group2": uplink_group2.as_ref().map(grid_json),
            "downlink": grid_json(downlink),
            "downlink_group2": downlink_group2.as_ref().map(grid_json),
        }),
    };
    json!({
        "region": p.region.common_name(),
        "revision": revision.name(),
        "tables_revision": p.revision.name(),
        "data_rates": data_rates,
        "rx1_dr": rx1_json(p.rx1_dr),
        "rx1_dr_dwell_time": p.rx1_dr_dwell_time.map(rx1_json),
        "channels": channels,
        "rx2": { "frequency": p.rx2_frequency, "dr": p.rx2_dr },
        "default_max_eirp": p.default_max_eirp,
        "tx_power": p.tx_power_offsets.iter().enumerate().filter_map(|(i, o)| o.map(|o| json!({
            "index": i, "offset_db": o, "eirp_dbm": p.default_max_eirp + f32::from(o),
        }))).collect::<Vec<_>>(),
        "class_b": p.class_b.map(|b| json!({
            "beacon_dr": b.beacon_dr,
            "beacon_frequency": beacon_json(&b.beacon_frequency),
            "ping_slot_dr": b.ping_slot_dr,
            "ping_slot_frequency": beacon_json(&b.ping_slot_frequency),
        })),
        "duty_cycle_bands": p.duty_cycle_bands.iter().map(|b| json!({
            "min_frequency": b.min_frequency,
            "max_frequency": b.max_frequency,
            "limit_percent": f64::from(b.max_duty_cycle_ppm10k) / 100.0,
        })).collect::<Vec<_>>(),
        "default_dwell_time": p.default_dwell_time,
        "tx_param_setup": p.tx_param_setup,
        "delays": {
            "receive_delay1_s": timing::RECEIVE_DELAY1,
            "receive_delay2_s": timing::RECEIVE_DELAY2,
            "join_accept_delay1_s": timing::JOIN_ACCEPT_DELAY1,
            "join_accept_delay2_s": timing::JOIN_ACCEPT_DELAY2,
        },
        "adr_ack_limit": timing::ADR_ACK_LIMIT,
        "adr_ack_delay": timing::ADR_ACK_DELAY,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_rates_are_the_indicative_ones() {
        let lora = |sf, bw| Modulation::Lora {
            spreading_factor: sf,
            bandwidth: bw,
        };
        // RP002 writes these as 250, 440, 980, 1760, 3125, 5470, 11000.
        assert_eq!(bit_rate(&lora(12, 125_000)), Some(244));
        assert_eq!(bit_rate(&lora(11, 125_000)), Some(439));
        assert_eq!(bit_rate(&lora(10, 125_000)), Some(976));
        assert_eq!(bit_rate(&lora(9, 125_000)), Some(1757));
        assert_eq!(bit_rate(&lora(8, 125_000)), Some(3125));
        assert_eq!(bit_rate(&lora(7, 125_000)), Some(5468));
        assert_eq!(bit_rate(&lora(7, 250_000)), Some(10937));
        let lr = |cr| Modulation::LrFhss {
            coding_rate: cr,
            occupied_channel_width: 137_000,
        };
        assert_eq!(bit_rate(&lr(LrFhssCodingRate::Cr1_3)), Some(162));
        assert_eq!(bit_rate(&lr(LrFhssCodingRate::Cr2_3)), Some(325));
    }

    #[test]
    fn grids_read_as_first_step_and_last() {
        let g = ChannelGrid {
            first_frequency: 902_300_000,
            step: 200_000,
            count: 64,
            min_dr: 0,
            max_dr: 3,
        };
        assert_eq!(grid_text(&g), "902.300 MHz + n × 200 kHz (to 914.900 MHz)");
    }
}
