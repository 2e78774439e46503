//! `region`: the tables of a region, as text and as JSON, for every region and
//! revision, and the errors for names that do not exist.

use serde_json::Value;

use super::*;

const REGIONS: [&str; 14] = [
    "EU868", "US915", "CN779", "EU433", "AU915", "CN470", "AS923-1", "AS923-2", "AS923-3",
    "AS923-4", "KR920", "IN865", "RU864", "ISM2400",
];
const REVISIONS: [&str; 7] = [
    "A",
    "B",
    "RP002-1.0.0",
    "RP002-1.0.1",
    "RP002-1.0.2",
    "RP002-1.0.3",
    "RP002-1.0.4",
];

#[test]
fn eu868_reads_like_the_regional_parameters() {
    let out = ok(&["region", "EU868"]);
    for fact in [
        "EU868, Regional Parameters RP002-1.0.4",
        "LoRa SF12BW125 CR4/5",
        "59/51",
        "FSK 50000 bit/s",
        "868.100 MHz  DR0-5",
        "868.500 MHz  DR0-5",
        "869.525 MHz, DR0 (LoRa SF12BW125)",
        "MaxEIRP 16 dBm",
        "0: 16 dBm, 1: 14 dBm",
        "Beacon",
        "Duty cycle",
        "RECEIVE_DELAY1 1 s",
        "JOIN_ACCEPT_DELAY2 6 s",
    ] {
        assert!(out.contains(fact), "missing {fact:?} in\n{out}");
    }
}

#[test]
fn eu868_json_has_every_table() {
    let v = json(&["region", "eu868", "--json"]);
    assert_eq!(v["region"], "EU868");
    assert_eq!(v["revision"], "RP002-1.0.4");
    assert!(
        v["tables_revision"]
            .as_str()
            .is_some_and(|r| r.starts_with("RP002-1.0."))
    );
    assert_eq!(v["data_rates"][0]["spreading_factor"], 12);
    assert_eq!(v["data_rates"][0]["max_payload"]["m"], 59);
    assert_eq!(v["data_rates"][5]["max_payload"]["n"], 242);
    assert_eq!(v["data_rates"][5]["max_payload_repeater"]["n"], 222);
    assert_eq!(v["rx1_dr"][5][0], 5);
    assert_eq!(v["rx1_dr"][5][5], 0);
    assert_eq!(v["channels"]["type"], "dynamic");
    assert_eq!(
        v["channels"]["default_channels"][0]["frequency"],
        868_100_000
    );
    assert_eq!(v["rx2"]["frequency"], 869_525_000);
    assert_eq!(v["rx2"]["dr"], 0);
    assert_eq!(v["tx_power"][0]["eirp_dbm"], 16.0);
    assert_eq!(v["delays"]["receive_delay1_s"], 1);
    assert!(
        v["duty_cycle_bands"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
}

#[test]
fn us915_shows_its_fixed_grids() {
    let out = ok(&["region", "US915"]);
    for fact in [
        "902.300 MHz + n × 200 kHz (to 914.900 MHz)",
        "903.000 MHz + n × 1600 kHz (to 914.200 MHz)",
        "923.300 MHz + n × 600 kHz (to 927.500 MHz)",
        "Duty cycle   none",
    ] {
        assert!(out.contains(fact), "missing {fact:?} in\n{out}");
    }
    let v = json(&["region", "US915", "--json"]);
    assert_eq!(v["channels"]["type"], "fixed");
    assert_eq!(v["channels"]["uplink"]["count"], 64);
}

#[test]
fn every_region_and_revision_dumps() {
    for region in REGIONS {
        for revision in REVISIONS {
            let text = ok(&["region", region, "--revision", revision]);
            assert!(text.starts_with(region), "{region} {revision}: {text}");
            let v: Value = json(&["region", region, "--revision", revision, "--json"]);
            assert_eq!(v["region"], region);
            assert!(
                v["data_rates"].as_array().is_some_and(|d| !d.is_empty()),
                "{region} {revision}"
            );
        }
    }
}

#[test]
fn unknown_names_are_one_line_errors() {
    let e = fails(&["region", "XX123"]);
    assert!(e.contains("unknown region"), "{e}");
    let e = fails(&["region", "EU868", "--revision", "RP002-9"]);
    assert!(e.contains("unknown regional parameters revision"), "{e}");
    let e = fails(&["region"]);
    assert!(e.contains("REGION"), "{e}");
}
