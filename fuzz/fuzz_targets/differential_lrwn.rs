#![no_main]
//! Our codec against ChirpStack's lrwn: same MIC verdicts, same plaintexts.

#[path = "../src/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::differential_lrwn(data));
