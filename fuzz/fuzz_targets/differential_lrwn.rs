#![no_main]
//! Our codec against ChirpStack's lrwn: same MIC verdicts, same plaintexts.

// Each target uses one of the shared checks.
#[allow(dead_code)]
#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::differential_lrwn(data));
