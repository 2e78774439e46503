//! `ns-core`: the LoRaWAN network server as a library.
//!
//! The radio-facing logic is sans-IO, fed with `now` and the records it
//! needs, returning what to store, send and publish:
//! - [`model`]: the records (tenants, applications, device profiles,
//!   devices and their sessions, gateways, the downlink queue).
//!
//! ```
//! use ns_core::model::{MacVersion, Tenant};
//! let tenant = Tenant::new("acme");
//! assert_eq!(tenant.name, "acme");
//! assert!(MacVersion::V1_1_0.is_1_1());
//! ```
#![forbid(unsafe_code)]

pub mod model;
