#![no_main]
//! Any bytes as MAC commands, both directions: no panic, and what reads writes back.

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::mac_commands(data));
