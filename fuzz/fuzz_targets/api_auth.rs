#![no_main]
//! Any text as an API token or a stored password hash: no panic; what we
//! sign verifies.

#[path = "../src/ns_checks.rs"]
#[allow(dead_code)]
mod ns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ns_checks::api_auth(data));
