//! The generated code of ChirpStack's `api` package: prost messages, tonic
//! servers (`*_service_server`) and clients (`*_service_client`), and the
//! proto3 JSON serde impls of every message.
//!
//! The well-known types are pbjson-types' (`google.protobuf.Empty` is
//! [`pbjson_types::Empty`], `Timestamp` is [`pbjson_types::Timestamp`],
//! `Struct` is [`pbjson_types::Struct`]); the `common` package is
//! packet-forwarder's [`packet_forwarder::gw::common`].

/// Generated code; its docs come from the `.proto` comments.
mod generated {
    // prost leaves some items (serde impl helpers, tonic plumbing)
    // undocumented, and clippy's style lints are not ours to fix in generated
    // code.
    #![allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::pedantic,
        clippy::use_self
    )]
    include!(concat!(env!("OUT_DIR"), "/api.rs"));
    include!(concat!(env!("OUT_DIR"), "/api.serde.rs"));
}

pub use generated::*;

/// The encoded `FileDescriptorSet` of the `api` files and everything they
/// import (`common`, `google.api`, the well-known types), for gRPC reflection
/// and for checking the definitions against ChirpStack's.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/api_descriptor.bin"));
