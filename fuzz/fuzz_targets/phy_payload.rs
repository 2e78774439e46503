#![no_main]
//! Any bytes as a PHYPayload: no panic, and every parsed frame round-trips.

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::phy_payload(data));
