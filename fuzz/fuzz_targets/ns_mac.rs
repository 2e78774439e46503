#![no_main]
//! Any uplink MAC commands against any stored pending requests: no panic,
//! answers encode, the next requests fit the FOpts.

#[path = "../src/ns_checks.rs"]
#[allow(dead_code)]
mod ns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ns_checks::ns_mac(data));
