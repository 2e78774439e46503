#![no_main]
//! Any topic and payload as an MQTT gateway event: no panic, a decoded event
//! is filed under the topic's gateway and re-encodes in both encodings.

#[path = "../src/ns_checks.rs"]
#[allow(dead_code)]
mod ns_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ns_checks::gateway_event(data));
