#![no_main]
//! Any bytes as a frame a simulated device receives, and as the MAC
//! commands of an authentic downlink: no panic, no replay taken, the next
//! uplink still built.

#[path = "../src/sim_checks.rs"]
mod sim_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sim_checks::sim_device(data));
