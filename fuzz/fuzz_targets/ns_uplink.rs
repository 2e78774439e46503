#![no_main]
//! Any gateway uplink frames through the de-duplicator, the data uplink and
//! MAC paths and the join path of the network server: no panic, and what is
//! accepted is the one known device's.

#[path = "../src/ns_checks.rs"]
#[allow(dead_code)]
mod ns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ns_checks::ns_uplink(data));
