//! The management API: ChirpStack v4's gRPC services (with gRPC-web and
//! REST/JSON), authentication and authorization.
//!
//! - [`proto`]: the generated messages, servers and clients of the `api`
//!   package, and its descriptor set.
//! - [`authz`]: who may do what, in one rule table.
//! - [`auth`]: API tokens (JWT HS256) and password hashes (PBKDF2), in
//!   ChirpStack's formats so that its tokens and users carry over.

pub mod auth;
pub mod authz;
pub mod proto;
