//! `ns-core`: the LoRaWAN network server as a library.
//!
//! The radio-facing logic is sans-IO, fed with `now` and the records it
//! needs, returning what to store, send and publish:
//! - [`model`]: the records (tenants, applications, device profiles,
//!   devices and their sessions, gateways, the downlink queue).
//! - [`dedup`]: the de-duplicator that merges the copies of an uplink heard
//!   by several gateways into one frame set.
//! - [`uplink`]: data uplinks: session lookup by DevAddr and MIC, FCnt
//!   rules, decryption, MAC commands, the new session to store.
//! - [`join`]: the built-in join server: join-requests checked, join-accepts
//!   built, session keys derived, DevAddrs allocated.
//! - [`downlink_timing`]: RX1/RX2 transmission parameters of class A
//!   downlinks (frequency, data rate, power, delay) as gateway `tx_info`.
//! - [`downlink`]: class A data downlinks answering an uplink (gateway,
//!   windows, queue, MAC commands, FCntDown) and the gateway's TX ack.
//! - [`integration`]: ChirpStack's device events (`up`, `join`, `ack`, …)
//!   and downlink commands, their MQTT topics and HTTP URLs, in protobuf and
//!   ChirpStack's JSON.
//! - [`mac`]: MAC commands: uplink answers applied to the session, device
//!   requests answered, and the requests to send (channels, ADR, RX/TX
//!   settings, device status) chosen for the downlink's room.
//! - [`adr`]: the ADR algorithms (ChirpStack's default) behind a trait, by id.
//! - [`config`]: the server's TOML configuration (ChirpStack's keys, built-in
//!   regions, all-in-one defaults) and the sans-IO settings it yields.
//! - [`gateway_backend`]: the MQTT gateway backend of a region: `up`,
//!   `stats` and `ack` events in (protobuf or JSON), `down` and `config`
//!   commands out in the encoding each gateway speaks.
//! - [`shared_state`]: what several server instances share through Redis
//!   (cross-instance de-duplication, TX-ack contexts).
//! - [`metrics`]: the gateways' statistics as time series per minute, hour,
//!   day and month (frame counts per frequency, data rate and TX status;
//!   duty-cycle load).
//! - [`api`]: the management API: ChirpStack's gRPC services with gRPC-web
//!   and REST/JSON, its tokens and password hashes, one authorization table.
//!
//! ```
//! use ns_core::model::{MacVersion, Tenant};
//! let tenant = Tenant::new("acme");
//! assert_eq!(tenant.name, "acme");
//! assert!(MacVersion::V1_1_0.is_1_1());
//! ```
#![forbid(unsafe_code)]

pub mod adr;
pub mod api;
pub mod config;
pub mod dedup;
pub mod downlink;
pub mod downlink_timing;
pub mod gateway_backend;
pub mod integration;
pub mod join;
pub mod mac;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod shared_state;
pub mod storage;
pub mod udp_backend;
pub mod uplink;
