//! The management API: ChirpStack v4's gRPC services (with gRPC-web and
//! REST/JSON), authentication and authorization.
//!
//! - [`auth`]: API tokens (JWT HS256) and password hashes (PBKDF2), in
//!   ChirpStack's formats so that its tokens and users carry over.

pub mod auth;
