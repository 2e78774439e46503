//! Gateway-side LoRaWAN protocols, sans-IO: ChirpStack's `gw` messages
//! (protobuf and JSON), and the Semtech UDP packet-forwarder protocol.
#![forbid(unsafe_code)]
pub mod basic_station;
pub mod gw;
pub mod semtech_udp;
