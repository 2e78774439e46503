//! Compiles `proto/integration/integration.proto` (ChirpStack's `integration`
//! package) into Rust with prost, and its proto3 JSON serde impls with pbjson.
//!
//! The `common` and `gw` packages it imports are packet-forwarder's own
//! `.proto` files, read from `../packet-forwarder/proto` rather than copied,
//! and mapped to packet-forwarder's generated types so that an event's
//! `rx_info` is the very `gw::UplinkRxInfo` the uplink arrived with.
//!
//! It also compiles `proto/api/*.proto` (ChirpStack's `api` package, the
//! management API) into prost messages, tonic servers and clients, and pbjson
//! serde impls, and writes their descriptor set, imports included, for gRPC
//! reflection. `proto/google/api` holds our own minimal `google.api.http`
//! annotation, which the `api` files use for their REST mappings.
//!
//! protox parses the `.proto` files in pure Rust, so no system `protoc` is
//! needed: `cargo build` requires nothing beyond Rust.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

#[path = "build_rest.rs"]
mod rest;

/// The files of the `api` package we compile, under `proto/`.
const API_PROTOS: &[&str] = &[
    "api/tenant.proto",
    "api/user.proto",
    "api/application.proto",
    "api/device_profile.proto",
    "api/device.proto",
    "api/gateway.proto",
    "api/internal.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let own = manifest_dir.join("proto");
    let shared = manifest_dir.join("../packet-forwarder/proto");
    println!("cargo:rerun-if-changed={}", own.display());
    println!("cargo:rerun-if-changed={}", shared.display());
    // `sqlx::migrate!` embeds these; a new migration file must rebuild.
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=build_rest.rs");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new([&own, &shared])?;
    compiler.include_source_info(true);
    compiler.include_imports(true);
    compiler.open_files(["integration/integration.proto"])?;
    let fds = compiler.file_descriptor_set();
    let fds_bytes = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("integration_descriptor.bin"), &fds_bytes)?;

    let mut config = prost_build::Config::new();
    config
        // Without this prost-build maps `.google.protobuf` to prost-types
        // itself, and the extern path below would be a duplicate.
        .compile_well_known_types()
        // Timestamp, Struct: pbjson-types carries prost types with the proto3
        // JSON serde impls, as packet-forwarder's `gw` messages use.
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".common", "::packet_forwarder::gw::common")
        .extern_path(".gw", "::packet_forwarder::gw")
        // Sorted maps (tags, log context): the same wire format, and JSON
        // whose key order does not change from one run to the next.
        .btree_map([".integration"])
        // `impl prost::Name`, so each message knows its full protobuf name.
        .enable_type_names();
    config.compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        .extern_path(".common", "::packet_forwarder::gw::common")
        .extern_path(".gw", "::packet_forwarder::gw")
        .btree_map([".integration"])
        // ChirpStack builds its `integration` JSON with pbjson's emit_fields:
        // scalar, string, bytes, repeated and map fields are written even at
        // their default value (`"fPort":0`, `"tags":{}`); absent messages are
        // still left out. The nested `gw` and `common` messages keep proto3's
        // omission of defaults, as in ChirpStack.
        .emit_fields()
        // Like ChirpStack: JSON from newer peers with fields we do not know yet
        // still decodes, as it does in protobuf.
        .ignore_unknown_fields()
        .build(&[".integration"])?;

    compile_api(&own, &shared, &out_dir)
}

/// The `api` package: messages, tonic services (server and client) and serde
/// impls, plus `api_descriptor.bin` for gRPC reflection.
fn compile_api(
    own: &Path,
    shared: &Path,
    out_dir: &Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut compiler = protox::Compiler::new([own, shared])?;
    // Comments become rustdoc, and reflection clients can show them.
    compiler.include_source_info(true);
    // Reflection must be able to serve every file the `api` files import.
    compiler.include_imports(true);
    compiler.open_files(API_PROTOS)?;
    let fds = compiler.file_descriptor_set();
    let fds_bytes = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("api_descriptor.bin"), &fds_bytes)?;
    rest::generate(&compiler.descriptor_pool(), out_dir)?;

    let mut config = prost_build::Config::new();
    config
        // Sorted maps (tags, variables, metadata), as in `integration`.
        .btree_map([".api"])
        .enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The `connect` constructor needs tonic's `transport` feature, which
        // the library does not enable; clients are built on any channel.
        .build_transport(false)
        // No default bodies: every method is written out, those of
        // features not built yet answering UNIMPLEMENTED with a message
        // naming the feature; a forgotten one does not compile.
        .generate_default_stubs(false)
        .compile_well_known_types(true)
        // Empty, Timestamp, Struct with their proto3 JSON serde impls.
        .extern_path(".google.protobuf", "::pbjson_types")
        .extern_path(".common", "::packet_forwarder::gw::common")
        .compile_fds_with_config(fds, config)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        .extern_path(".common", "::packet_forwarder::gw::common")
        .btree_map([".api"])
        // Defaults are left out, as proto3 JSON has it; JSON with fields we do
        // not know yet still decodes.
        .ignore_unknown_fields()
        .build(&[".api"])?;
    Ok(())
}
