#![no_main]
//! Any bytes as a Semtech UDP datagram: no panic, and every parsed packet is
//! written back to bytes that parse to an equal packet.

#[path = "../src/checks.rs"]
#[allow(dead_code)]
mod checks;

use packet_forwarder::semtech_udp::Packet;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::semtech_udp(data, Packet::parse, Packet::to_vec));
