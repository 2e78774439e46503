//! `airtime`: time on air at a region's data rate and at raw LoRa rates, the
//! duty-cycle waits, and the errors for rates and sizes that do not exist.

use serde_json::Value;

use super::*;

#[test]
fn eu868_dr5_twenty_bytes_takes_56_576_ms() {
    let out = ok(&["airtime", "--region", "EU868", "--dr", "5", "--size", "20"]);
    for fact in [
        "EU868 (RP002-1.0.4), DR5, uplink",
        "LoRa SF7BW125, CR 4/5, explicit header, CRC on, LDRO off, preamble 8",
        "20 bytes (at most 255 at DR5)",
        "8 + 4.25 + 43 = 55.25",
        "Symbol time  1.024 ms",
        "Time on air  56.576 ms",
        "1 %: wait 5.601024 s",
    ] {
        assert!(out.contains(fact), "missing {fact:?} in\n{out}");
    }
}

#[test]
fn airtime_json_has_the_numbers() {
    let v = json(&[
        "airtime", "--region", "eu868", "--dr", "0", "--size", "64", "--json",
    ]);
    assert_eq!(v["region"], "EU868");
    assert_eq!(v["dr"], 0);
    assert_eq!(v["modulation"]["spreading_factor"], 12);
    assert_eq!(v["modulation"]["bandwidth"], 125_000);
    assert_eq!(v["low_data_rate_optimize"], true);
    assert_eq!(v["max_size"], 64);
    assert_eq!(v["time_on_air_us"], 2_793_472);
    assert_eq!(v["symbols"], 85.25);
    assert_eq!(v["symbol_time_us"], 32_768.0);
    assert_eq!(v["duty_cycle"][0]["limit_percent"], 1.0);
    assert_eq!(v["duty_cycle"][0]["wait_us"], 99 * 2_793_472);
    // EU868's sub-bands follow, each with its own limit.
    let bands = v["duty_cycle"].as_array().unwrap();
    assert!(bands.len() > 1, "{v}");
    assert!(bands[1..].iter().all(|b| b["min_frequency"].is_u64()));
}

#[test]
fn a_frequency_picks_its_duty_cycle_band() {
    let v = json(&[
        "airtime",
        "--region",
        "EU868",
        "--dr",
        "5",
        "--size",
        "20",
        "--frequency",
        "868.1",
        "--json",
    ]);
    let bands = v["duty_cycle"].as_array().unwrap();
    assert_eq!(bands.len(), 2, "{v}");
    assert_eq!(bands[1]["limit_percent"], 1.0);
    assert!(bands[1]["min_frequency"].as_u64().unwrap() <= 868_100_000);
    let e = fails(&[
        "airtime",
        "--region",
        "EU868",
        "--dr",
        "5",
        "--size",
        "20",
        "--frequency",
        "915.0",
    ]);
    assert!(e.contains("no duty-cycle band"), "{e}");
}

#[test]
fn downlinks_have_no_payload_crc() {
    let v = json(&[
        "airtime",
        "--region",
        "EU868",
        "--dr",
        "5",
        "--size",
        "20",
        "--downlink",
        "--json",
    ]);
    assert_eq!(v["crc"], false);
    assert_eq!(v["direction"], "downlink");
    assert_eq!(v["time_on_air_us"], 51_456);
}

#[test]
fn fsk_counts_its_overhead_bytes() {
    let v = json(&[
        "airtime", "--region", "EU868", "--dr", "7", "--size", "20", "--json",
    ]);
    assert_eq!(v["modulation"]["modulation"], "fsk");
    assert_eq!(v["frame_bytes"], 31);
    assert_eq!(v["time_on_air_us"], 4_960);
}

#[test]
fn raw_lora_rates_need_no_region() {
    let v = json(&[
        "airtime", "--sf", "7", "--bw", "125", "--size", "20", "--json",
    ]);
    assert_eq!(v["time_on_air_us"], 56_576);
    assert!(v.get("region").is_none());
    // 2.4 GHz: CR 4/8 with the long interleaver by default.
    let v = json(&[
        "airtime", "--sf", "12", "--bw", "812.5", "--size", "20", "--json",
    ]);
    assert_eq!(v["coding_rate"], "4/8LI");
    assert_eq!(v["low_data_rate_optimize"], true);
    assert_eq!(v["time_on_air_us"], 263_405);
    let v = json(&[
        "airtime", "--sf", "12", "--bw", "812.5", "--size", "20", "--cr", "4/5li", "--json",
    ]);
    assert_eq!(v["time_on_air_us"], 202_910);
    let out = ok(&["airtime", "--sf", "12", "--bw", "812.5", "--size", "20"]);
    assert!(out.contains("Symbol time  5.041231 ms"), "{out}");
    assert!(out.contains("Time on air  263.405 ms"), "{out}");
}

#[test]
fn lora_settings_can_be_overridden() {
    let v = json(&[
        "airtime",
        "--sf",
        "12",
        "--bw",
        "125",
        "--size",
        "17",
        "--cr",
        "4/8",
        "--preamble",
        "10",
        "--implicit-header",
        "--downlink",
        "--json",
    ]);
    assert_eq!(v["symbols"], 46.25);
    assert_eq!(v["time_on_air_us"], 1_515_520);
    let v = json(&[
        "airtime", "--sf", "12", "--bw", "125", "--size", "17", "--ldro", "off", "--json",
    ]);
    assert_eq!(v["low_data_rate_optimize"], false);
}

#[test]
fn bad_rates_and_sizes_are_one_line_errors() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["airtime", "--region", "XX868", "--dr", "5", "--size", "20"],
            "unknown region",
        ),
        (
            &["airtime", "--region", "EU868", "--dr", "15", "--size", "20"],
            "has no data rate 15",
        ),
        (
            &["airtime", "--region", "EU868", "--dr", "0", "--size", "65"],
            "exceeds the 64 bytes EU868 DR0 allows",
        ),
        (
            &[
                "airtime",
                "--region",
                "EU868",
                "--dr",
                "5",
                "--size",
                "20",
                "--revision",
                "C",
            ],
            "unknown regional parameters revision",
        ),
        (
            &[
                "airtime",
                "--region",
                "EU868",
                "--dr",
                "5",
                "--size",
                "20",
                "--dwell-time",
            ],
            "no dwell-time",
        ),
        (
            &[
                "airtime", "--region", "EU868", "--dr", "7", "--size", "20", "--cr", "4/6",
            ],
            "LoRa data rates only",
        ),
        (
            &["airtime", "--sf", "13", "--bw", "125", "--size", "20"],
            "spreading factor 13 is not 5 to 12",
        ),
        (
            &["airtime", "--sf", "7", "--bw", "0", "--size", "20"],
            "must not be 0",
        ),
        (
            &["airtime", "--sf", "7", "--bw", "12x", "--size", "20"],
            "not a bandwidth",
        ),
        (
            &["airtime", "--sf", "7", "--bw", "125", "--size", "256"],
            "exceeds the 255",
        ),
        (
            &[
                "airtime", "--sf", "7", "--bw", "125", "--size", "20", "--cr", "4/9",
            ],
            "4/5",
        ),
        (
            &["airtime", "--size", "20"],
            "--region and --dr, or --sf and --bw",
        ),
        (&["airtime", "--region", "EU868", "--size", "20"], "--dr"),
        (&["airtime", "--region", "EU868", "--dr", "5"], "--size"),
    ];
    for (args, expected) in cases {
        let e = fails(args);
        assert!(e.contains(expected), "{args:?}: {e}");
    }
}

#[test]
fn every_region_and_data_rate_has_a_time_on_air() {
    for region in [
        "EU868", "US915", "CN779", "EU433", "AU915", "CN470", "AS923-1", "AS923-2", "AS923-3",
        "AS923-4", "KR920", "IN865", "RU864", "ISM2400",
    ] {
        let v = json(&["region", region, "--json"]);
        for dr in v["data_rates"].as_array().unwrap() {
            if dr.is_null() {
                continue;
            }
            let n = dr["dr"].to_string();
            let (up, down) = (dr["uplink"] == true, dr["downlink"] == true);
            let mut args = vec![
                "airtime", "--region", region, "--dr", &n, "--size", "13", "--json",
            ];
            if !up && !down {
                assert!(fails(&args).contains("is not used"), "{region} DR{n}");
                continue;
            }
            if !up {
                args.push("--downlink");
            }
            let a: Value = json(&args);
            assert!(a["time_on_air_us"].as_u64().unwrap() > 0, "{region} DR{n}");
        }
    }
}
