//! The management API: ChirpStack v4's gRPC services (with gRPC-web and
//! REST/JSON), authentication and authorization.
//!
//! - [`proto`]: the generated messages, servers and clients of the `api`
//!   package, and its descriptor set.
//! - [`authz`]: who may do what, in one rule table.
//! - [`auth`]: API tokens (JWT HS256) and password hashes (PBKDF2), in
//!   ChirpStack's formats so that its tokens and users carry over.

pub mod application;
pub mod auth;
pub mod authz;
pub mod device;
pub mod device_profile;
pub mod gateway;
pub mod internal;
pub mod live;
pub mod proto;
mod rest;
pub mod server;
pub mod service;
pub mod tenant;
pub mod user;

pub use server::{ApiServer, router};
pub use service::{ApiSettings, ApiState, ChangeListener};
