//! Virtual LoRaWAN devices and gateways, as a library: what the
//! `lorawan-sim` binary runs, and what tests can drive directly.
//!
//! - [`device`]: the device side of LoRaWAN 1.0.x and 1.1, sans-IO: frames
//!   out (join-requests, data uplinks with MAC answers), frames in
//!   (join-accepts, downlinks), receive windows.
//! - [`downlinks`]: application downlinks enqueued through the API while a
//!   simulation runs, matched to what the devices receive.
//! - [`events`]: the application's `up` events over MQTT, matched against
//!   the uplinks sent (delivery ratio, latency).
//! - [`gateway`]: the simulated gateways' protocols (Semtech UDP, `gw`
//!   messages over MQTT, Basics Station).
//! - [`pace`]: load runs: a target uplink rate with a ramp-up, or a sweep
//!   of rates, each step measured by what the application received.
//! - [`provision`]: the tenant, application, device profile, gateways and
//!   devices of a simulation, created through the ChirpStack-compatible
//!   gRPC API with an API key.
//! - [`radio`]: positions, the link budget, receive windows.
//! - [`scenario`]: scenario files (TOML): server, gateways, groups of
//!   devices.
//! - [`sim`]: a running simulation: device tasks on a shared air, gateway
//!   tasks forwarding to the server, a [`sim::Report`] at the end.
//!
//! ```
//! use lorawan::Eui64;
//! use lorawan::keys::{AppKey, NwkKey};
//! use lorawan::region::{Region, Revision};
//! use lorawan_sim::device::{Device, DeviceConfig, LorawanVersion};
//!
//! let mut device = Device::new(DeviceConfig::otaa(
//!     Eui64::from_u64(1),
//!     Eui64::from_u64(2),
//!     NwkKey::from_be_bytes([1; 16]),
//!     AppKey::from_be_bytes([2; 16]),
//!     LorawanVersion::V1_1,
//!     Region::Eu868,
//!     Revision::Rp002_1_0_3,
//! ));
//! // Not joined: a data uplink is refused, a join-request is built.
//! assert!(device.uplink(1, b"hi", false).is_err());
//! assert_eq!(device.join_request().phy_payload[0], 0x00); // MHDR: join-request
//! ```
#![forbid(unsafe_code)]

pub mod device;
pub mod downlinks;
pub mod events;
pub mod gateway;
pub mod pace;
pub mod provision;
pub mod radio;
pub mod scenario;
pub mod sim;
