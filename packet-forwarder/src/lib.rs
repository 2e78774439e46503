//! Gateway-side LoRaWAN protocols, sans-IO: ChirpStack's `gw` messages
//! (protobuf and JSON), the Semtech UDP packet-forwarder protocol, the LoRa
//! Basics Station LNS protocol, and the gateway statistics a bridge counts.
#![forbid(unsafe_code)]
pub mod basic_station;
pub mod gw;
pub mod semtech_udp;
pub mod stats;
