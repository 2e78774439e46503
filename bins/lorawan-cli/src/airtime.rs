//! `lorawan-cli airtime`: the time on air of a PHYPayload at a region's data rate
//! (or at a raw LoRa rate), its symbols, and how long duty-cycle limits then
//! keep the band quiet.

use std::fmt::Write;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use clap::{Args, ValueEnum};
use lorawan::Direction;
use lorawan::airtime::{AirtimeError, LoraParams, LowDataRateOptimize, PacketParams};
use lorawan::modulation::{LoraCodingRate, Modulation};
use lorawan::region::{self, Region, RegionParams, Revision};
use serde_json::{Map, Value, json};

use crate::input;

/// Arguments of `airtime`.
#[derive(Debug, Args)]
pub(crate) struct AirtimeArgs {
    /// The region: EU868, US915, CN779, EU433, AU915, CN470, AS923-1..4, KR920,
    /// IN865, RU864, ISM2400 (with --dr).
    #[arg(long, value_parser = parse_region, requires = "dr", conflicts_with_all = ["sf", "bw"])]
    region: Option<Region>,
    /// The Regional Parameters revision (A, B, RP002-1.0.0 .. RP002-1.0.4; default: the latest).
    #[arg(long, value_parser = parse_revision, requires = "region")]
    revision: Option<Revision>,
    /// The data rate index of --region.
    #[arg(long, value_parser = input::u8_arg, requires = "region")]
    dr: Option<u8>,
    /// The PHYPayload size in bytes (MHDR to MIC).
    #[arg(long, value_parser = input::u16_arg)]
    size: u16,
    /// A downlink: LoRa frames without the payload CRC.
    #[arg(long)]
    downlink: bool,
    /// Check the size against the dwell-time limited maximum (AS923, AU915 with
    /// the 400 ms dwell time).
    #[arg(long, requires = "region")]
    dwell_time: bool,
    /// Spreading factor of a raw LoRa rate (5-12; with --bw, without --region).
    #[arg(long, value_parser = input::u8_arg, requires = "bw")]
    sf: Option<u8>,
    /// Bandwidth of a raw LoRa rate in kHz: 125, 250, 500, 203.125, 406.25, 812.5, 1625.
    #[arg(long, value_name = "KHZ", requires = "sf")]
    bw: Option<String>,
    /// LoRa coding rate: 4/5, 4/6, 4/7, 4/8, 4/5LI, 4/6LI, 4/8LI (default: 4/5,
    /// or 4/8LI at 2.4 GHz).
    #[arg(long, value_parser = parse_cr)]
    cr: Option<LoraCodingRate>,
    /// LoRa preamble length in symbols (default 8).
    #[arg(long, value_parser = input::u16_arg)]
    preamble: Option<u16>,
    /// A LoRa frame with an implicit header (as class B beacons are sent).
    #[arg(long)]
    implicit_header: bool,
    /// LoRa low-data-rate optimisation (default auto: symbols of 16.384 ms or more).
    #[arg(long, value_enum)]
    ldro: Option<Ldro>,
    /// Only the duty-cycle band of this frequency (Hz, or MHz with a decimal point).
    #[arg(long, requires = "region")]
    frequency: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `--ldro`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Ldro {
    Auto,
    On,
    Off,
}

fn parse_region(s: &str) -> Result<Region, String> {
    s.parse::<Region>().map_err(|e| e.to_string())
}

fn parse_revision(s: &str) -> Result<Revision, String> {
    s.parse::<Revision>().map_err(|e| e.to_string())
}

fn parse_cr(s: &str) -> Result<LoraCodingRate, String> {
    use LoraCodingRate::*;
    [Cr4_5, Cr4_6, Cr4_7, Cr4_8, Cr4_5Li, Cr4_6Li, Cr4_8Li]
        .into_iter()
        .find(|cr| cr.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| "expected 4/5, 4/6, 4/7, 4/8, 4/5LI, 4/6LI or 4/8LI".to_owned())
}

/// A bandwidth in kHz with up to three decimals, as an exact number of Hz.
pub(crate) fn bandwidth_khz(text: &str) -> Result<u32> {
    let t = text
        .trim()
        .trim_end_matches("kHz")
        .trim_end_matches("khz")
        .trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let bad = || anyhow!("--bw: {text:?} is not a bandwidth in kHz (125, 812.5, …)");
    if int.is_empty()
        || frac.len() > 3
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let khz: u64 = int.parse().map_err(|_| bad())?;
    let frac_hz: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
    let hz = khz
        .checked_mul(1000)
        .and_then(|h| h.checked_add(frac_hz))
        .and_then(|h| u32::try_from(h).ok())
        .ok_or_else(bad)?;
    if hz == 0 {
        bail!("--bw: the bandwidth must not be 0");
    }
    Ok(hz)
}

/// Where the rate came from.
struct RateSource {
    region: &'static RegionParams,
    /// The revision asked for (the tables may come from an earlier one).
    revision: Revision,
    dr: u8,
    max_size: usize,
    m: u8,
}

/// Runs `airtime` and returns what to print.
pub(crate) fn run(args: &AirtimeArgs) -> Result<String> {
    let direction = if args.downlink {
        Direction::Downlink
    } else {
        Direction::Uplink
    };
    let size = usize::from(args.size);
    let (modulation, source) = match (args.region, args.sf, &args.bw) {
        (Some(region), _, _) => {
            let revision = args.revision.unwrap_or(Revision::LATEST);
            let dr = args.dr.ok_or_else(|| anyhow!("--region needs --dr"))?;
            let (modulation, source) =
                region_rate(region, revision, dr, direction, args.dwell_time)?;
            (modulation, Some(source))
        }
        (None, Some(sf), Some(bw)) => {
            let bandwidth = bandwidth_khz(bw)?;
            (
                Modulation::Lora {
                    spreading_factor: sf,
                    bandwidth,
                },
                None,
            )
        }
        _ => bail!("give --region and --dr, or --sf and --bw"),
    };
    if let Some(s) = &source
        && size > s.max_size
    {
        bail!(
            "a {size}-byte PHYPayload exceeds the {} bytes {} DR{} allows{} (M = {}, {})",
            s.max_size,
            s.region.region,
            s.dr,
            if args.dwell_time {
                " with the dwell-time limit"
            } else {
                ""
            },
            s.m,
            s.revision
        );
    }
    let mut params = PacketParams::lorawan(&modulation, direction);
    if let PacketParams::Lora(p) = &mut params {
        if let Some(cr) = args.cr {
            p.coding_rate = cr;
        }
        if let Some(n) = args.preamble {
            p.preamble_symbols = n;
        }
        p.explicit_header = !args.implicit_header;
        if let Some(l) = args.ldro {
            p.low_data_rate_optimize = match l {
                Ldro::Auto => LowDataRateOptimize::Auto,
                Ldro::On => LowDataRateOptimize::On,
                Ldro::Off => LowDataRateOptimize::Off,
            };
        }
    } else if args.cr.is_some()
        || args.preamble.is_some()
        || args.implicit_header
        || args.ldro.is_some()
    {
        bail!(
            "--cr, --preamble, --implicit-header and --ldro apply to LoRa data rates only, not {modulation}"
        );
    }
    let toa = params.time_on_air(size).map_err(airtime_err)?;
    let frequency = args
        .frequency
        .as_deref()
        .map(|f| input::frequency("--frequency", f))
        .transpose()?;
    let waits = duty_cycle_waits(toa, source.as_ref().map(|s| s.region), frequency)?;
    let report = Report {
        modulation,
        params,
        direction,
        size,
        toa,
        source,
        waits,
    };
    if args.json {
        Ok(serde_json::to_string_pretty(&report.json()?)? + "\n")
    } else {
        report.text()
    }
}

fn airtime_err(e: AirtimeError) -> anyhow::Error {
    anyhow!("{e}")
}

fn region_rate(
    region: Region,
    revision: Revision,
    dr: u8,
    direction: Direction,
    dwell_time: bool,
) -> Result<(Modulation, RateSource)> {
    let params = region::params(region, revision);
    let defined = defined_drs(params);
    let rate = params
        .data_rates
        .get(usize::from(dr))
        .copied()
        .flatten()
        .ok_or_else(|| {
            anyhow!("{region} ({revision}) has no data rate {dr}; defined: {defined}")
        })?;
    match direction {
        _ if !rate.uplink && !rate.downlink => {
            bail!("{region} DR{dr} is not used in {revision}, in either direction")
        }
        Direction::Uplink if !rate.uplink => {
            bail!("{region} DR{dr} is a downlink data rate: add --downlink")
        }
        Direction::Downlink if !rate.downlink => {
            bail!("{region} DR{dr} is an uplink-only data rate: drop --downlink")
        }
        _ => {}
    }
    let table = if dwell_time {
        params.max_payload_dwell_time.ok_or_else(|| {
            anyhow!("{region} has no dwell-time limited payload sizes: drop --dwell-time")
        })?
    } else {
        params.max_payload
    };
    let max = table
        .get(usize::from(dr))
        .copied()
        .flatten()
        .ok_or_else(|| anyhow!("{region} ({revision}) gives no maximum payload size for DR{dr}"))?;
    Ok((
        rate.modulation,
        RateSource {
            region: params,
            revision,
            dr,
            // MHDR (1) + MACPayload (at most M) + MIC (4).
            max_size: usize::from(max.m) + 5,
            m: max.m,
        },
    ))
}

/// `0-7, 8-11` from the defined entries of a data-rate table.
pub(crate) fn defined_drs(params: &RegionParams) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (i, dr) in params.data_rates.iter().enumerate() {
        if dr.is_none() {
            continue;
        }
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == i => *end = i,
            _ => ranges.push((i, i)),
        }
    }
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duty-cycle limit and the wait it imposes.
struct Wait {
    /// Parts per ten thousand.
    limit: u16,
    /// The band it applies to, Hz (none for the plain 1 %).
    band: Option<(u32, u32)>,
    /// `None` when the limit is 0 (no transmission allowed).
    wait: Option<Duration>,
}

/// Off-time after a transmission of `toa` under a `limit` (ppm10k): toa · (1/dc − 1).
fn off_time(toa: Duration, limit: u16) -> Option<Duration> {
    if limit == 0 {
        return None;
    }
    let limit = u128::from(limit.min(10_000));
    let us = (toa.as_micros() * (10_000 - limit)).div_ceil(limit);
    Some(Duration::from_micros(u64::try_from(us).unwrap_or(u64::MAX)))
}

fn duty_cycle_waits(
    toa: Duration,
    region: Option<&RegionParams>,
    frequency: Option<u32>,
) -> Result<Vec<Wait>> {
    let mut waits = vec![Wait {
        limit: 100,
        band: None,
        wait: off_time(toa, 100),
    }];
    let Some(region) = region else {
        return Ok(waits);
    };
    let bands = region
        .duty_cycle_bands
        .iter()
        .filter(|b| frequency.is_none_or(|f| (b.min_frequency..=b.max_frequency).contains(&f)));
    let before = waits.len();
    waits.extend(bands.map(|b| Wait {
        limit: b.max_duty_cycle_ppm10k,
        band: Some((b.min_frequency, b.max_frequency)),
        wait: off_time(toa, b.max_duty_cycle_ppm10k),
    }));
    if let Some(f) = frequency
        && waits.len() == before
        && !region.duty_cycle_bands.is_empty()
    {
        bail!(
            "{} MHz is in no duty-cycle band of {}",
            mhz(f),
            region.region
        );
    }
    Ok(waits)
}

struct Report {
    modulation: Modulation,
    params: PacketParams,
    direction: Direction,
    size: usize,
    toa: Duration,
    source: Option<RateSource>,
    waits: Vec<Wait>,
}

/// `56.576 ms`: milliseconds with microsecond precision.
pub(crate) fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03} ms", us / 1000, us % 1000)
}

/// `5.601024 s`.
fn seconds(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:06} s", us / 1_000_000, us % 1_000_000)
}

/// A duration with its sub-microsecond part, if any: `1.024 ms`, `5.041231 ms`.
fn ms_fine(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1000) {
        ms(d)
    } else {
        format!("{}.{:06} ms", ns / 1_000_000, ns % 1_000_000)
    }
}

/// `868.100 MHz`, `864.999999 MHz`.
pub(crate) fn mhz(hz: u32) -> String {
    format!("{} MHz", mhz_number(hz))
}

/// `868.100`: MHz with at least three decimals, more where the frequency needs them.
pub(crate) fn mhz_number(hz: u32) -> String {
    let frac = format!("{:06}", hz % 1_000_000);
    let frac = frac.trim_end_matches('0');
    format!("{}.{frac:0<3}", hz / 1_000_000)
}

/// `863.000-864.999999 MHz`.
pub(crate) fn mhz_range(lo: u32, hi: u32) -> String {
    format!("{}-{} MHz", mhz_number(lo), mhz_number(hi))
}

/// `1 %`, `0.1 %`, `10 %` from parts per ten thousand.
pub(crate) fn percent(ppm10k: u16) -> String {
    let (int, frac) = (ppm10k / 100, ppm10k % 100);
    if frac == 0 {
        format!("{int} %")
    } else {
        let frac = format!("{frac:02}");
        format!("{int}.{} %", frac.trim_end_matches('0'))
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Uplink => "uplink",
        Direction::Downlink => "downlink",
    }
}

impl Report {
    fn settings(&self) -> String {
        match &self.params {
            PacketParams::Lora(p) => {
                let ldro = p.low_data_rate_optimized().unwrap_or(false);
                format!(
                    "CR {}, {} header, CRC {}, LDRO {}, preamble {}",
                    p.coding_rate.as_str(),
                    if p.explicit_header {
                        "explicit"
                    } else {
                        "implicit"
                    },
                    if p.crc { "on" } else { "off" },
                    if ldro { "on" } else { "off" },
                    p.preamble_symbols
                )
            }
            PacketParams::Fsk(p) => format!(
                "preamble {} bytes, sync word {}, length byte, CRC {}",
                p.preamble_bytes,
                p.sync_word_bytes,
                if p.crc { "on" } else { "off" }
            ),
            PacketParams::LrFhss(p) => format!("{} headers", p.header_count),
        }
    }

    fn text(&self) -> Result<String> {
        let mut out = String::new();
        let mut line = |label: &str, value: String| {
            let _ = writeln!(out, "{label:<13}{value}");
        };
        if let Some(s) = &self.source {
            line(
                "Region",
                format!(
                    "{} ({}), DR{}, {}",
                    s.region.region,
                    s.revision,
                    s.dr,
                    direction_name(self.direction)
                ),
            );
        } else {
            line("Direction", direction_name(self.direction).to_owned());
        }
        line(
            "Modulation",
            format!("{}, {}", self.modulation, self.settings()),
        );
        let max = self
            .source
            .as_ref()
            .map(|s| format!(" (at most {} at DR{})", s.max_size, s.dr))
            .unwrap_or_default();
        line("PHYPayload", format!("{} bytes{max}", self.size));
        match &self.params {
            PacketParams::Lora(p) => {
                let symbols = p.symbols(self.size).map_err(airtime_err)?;
                let total = symbols.total_quarters();
                let frac = match total % 4 {
                    0 => "",
                    1 => ".25",
                    2 => ".5",
                    _ => ".75",
                };
                line(
                    "Symbols",
                    format!(
                        "{symbols} = {}{frac} (preamble + sync + header and payload)",
                        total / 4
                    ),
                );
                line(
                    "Symbol time",
                    ms_fine(p.symbol_time().map_err(airtime_err)?),
                );
            }
            PacketParams::Fsk(p) => {
                line("Frame", format!("{} bytes", p.frame_bytes(self.size)));
                line(
                    "Bit time",
                    ms_fine(Duration::from_nanos(
                        1_000_000_000u64.div_ceil(u64::from(p.bitrate)),
                    )),
                );
            }
            PacketParams::LrFhss(p) => {
                line(
                    "Headers",
                    format!(
                        "{} × {}",
                        p.header_count,
                        ms(lorawan::airtime::LrFhssParams::HEADER_TIME)
                    ),
                );
                line(
                    "Fragments",
                    format!(
                        "{} of up to {} ({} coded bits)",
                        p.fragments(self.size),
                        ms(lorawan::airtime::LrFhssParams::FRAGMENT_TIME),
                        p.coded_bits(self.size)
                    ),
                );
            }
        }
        line("Time on air", ms(self.toa));
        let mut first = true;
        for w in &self.waits {
            let label = if first { "Duty cycle" } else { "" };
            first = false;
            let band = w
                .band
                .map(|(lo, hi)| format!(" in {}", mhz_range(lo, hi)))
                .unwrap_or_default();
            let wait = match w.wait {
                Some(d) => format!("wait {} before the next transmission", seconds(d)),
                None => "no transmission allowed".to_owned(),
            };
            line(label, format!("{}{band}: {wait}", percent(w.limit)));
        }
        if let Some(s) = &self.source
            && s.region.duty_cycle_bands.is_empty()
        {
            line(
                "",
                format!("({} sets no duty-cycle limit)", s.region.region),
            );
        }
        Ok(out)
    }

    fn json(&self) -> Result<Value> {
        let mut o = Map::new();
        if let Some(s) = &self.source {
            o.insert("region".into(), json!(s.region.region.common_name()));
            o.insert("revision".into(), json!(s.revision.name()));
            o.insert("dr".into(), json!(s.dr));
        }
        o.insert("direction".into(), json!(direction_name(self.direction)));
        o.insert("modulation".into(), serde_json::to_value(self.modulation)?);
        match &self.params {
            PacketParams::Lora(p) => {
                let symbols = p.symbols(self.size).map_err(airtime_err)?;
                o.insert("coding_rate".into(), json!(p.coding_rate.as_str()));
                o.insert("explicit_header".into(), json!(p.explicit_header));
                o.insert("crc".into(), json!(p.crc));
                o.insert(
                    "low_data_rate_optimize".into(),
                    json!(p.low_data_rate_optimized().map_err(airtime_err)?),
                );
                o.insert("preamble_symbols".into(), json!(p.preamble_symbols));
                o.insert(
                    "symbols".into(),
                    json!(symbols.total_quarters() as f64 / 4.0),
                );
                o.insert("payload_symbols".into(), json!(symbols.payload));
                let t = p.symbol_time().map_err(airtime_err)?;
                o.insert("symbol_time_us".into(), json!(t.as_nanos() as f64 / 1000.0));
            }
            PacketParams::Fsk(p) => {
                o.insert("frame_bytes".into(), json!(p.frame_bytes(self.size)));
                o.insert("crc".into(), json!(p.crc));
            }
            PacketParams::LrFhss(p) => {
                o.insert("header_count".into(), json!(p.header_count));
                o.insert("fragments".into(), json!(p.fragments(self.size)));
                o.insert("coded_bits".into(), json!(p.coded_bits(self.size)));
            }
        }
        o.insert("size".into(), json!(self.size));
        if let Some(s) = &self.source {
            o.insert("max_size".into(), json!(s.max_size));
        }
        let us = u64::try_from(self.toa.as_micros())?;
        o.insert("time_on_air_us".into(), json!(us));
        o.insert("time_on_air_ms".into(), json!(us as f64 / 1000.0));
        let waits: Vec<Value> = self
            .waits
            .iter()
            .map(|w| {
                let mut d = Map::new();
                d.insert("limit_percent".into(), json!(f64::from(w.limit) / 100.0));
                if let Some((lo, hi)) = w.band {
                    d.insert("min_frequency".into(), json!(lo));
                    d.insert("max_frequency".into(), json!(hi));
                }
                d.insert(
                    "wait_us".into(),
                    json!(
                        w.wait
                            .map(|t| u64::try_from(t.as_micros()).unwrap_or(u64::MAX))
                    ),
                );
                Value::Object(d)
            })
            .collect();
        o.insert("duty_cycle".into(), Value::Array(waits));
        Ok(Value::Object(o))
    }
}

/// The LoRaWAN LoRa settings of a data rate, for other commands.
pub(crate) fn lora_params(modulation: &Modulation) -> Option<LoraParams> {
    match PacketParams::lorawan(modulation, Direction::Uplink) {
        PacketParams::Lora(p) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_are_read_in_khz_exactly() {
        assert_eq!(bandwidth_khz("125").unwrap(), 125_000);
        assert_eq!(bandwidth_khz("812.5").unwrap(), 812_500);
        assert_eq!(bandwidth_khz("203.125").unwrap(), 203_125);
        assert_eq!(bandwidth_khz("1625 kHz").unwrap(), 1_625_000);
        for bad in ["", "0", "1.2345", "abc", "-125", "9999999999"] {
            assert!(bandwidth_khz(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn off_time_is_the_rest_of_the_duty_cycle_period() {
        let toa = Duration::from_micros(56_576);
        assert_eq!(off_time(toa, 100), Some(Duration::from_micros(5_601_024)));
        assert_eq!(off_time(toa, 10), Some(Duration::from_micros(56_519_424)));
        assert_eq!(off_time(toa, 1000), Some(Duration::from_micros(509_184)));
        assert_eq!(off_time(toa, 10_000), Some(Duration::ZERO));
        assert_eq!(off_time(toa, 0), None);
    }

    #[test]
    fn frequencies_keep_the_digits_they_need() {
        assert_eq!(mhz(868_100_000), "868.100 MHz");
        assert_eq!(mhz(864_999_999), "864.999999 MHz");
        assert_eq!(mhz(2_403_000_000), "2403.000 MHz");
        assert_eq!(mhz_range(863_000_000, 865_000_000), "863.000-865.000 MHz");
    }

    #[test]
    fn percentages_drop_trailing_zeros() {
        assert_eq!(percent(100), "1 %");
        assert_eq!(percent(10), "0.1 %");
        assert_eq!(percent(1000), "10 %");
        assert_eq!(percent(1), "0.01 %");
        assert_eq!(percent(250), "2.5 %");
    }
}
