#![no_main]
//! Any topic and payload as an application's downlink command: no panic, a
//! parsed topic reads back the same, a parsed command is a storable queue
//! item of the topic's device.

#[path = "../src/ns_checks.rs"]
#[allow(dead_code)]
mod ns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ns_checks::downlink_command(data));
