//! Compiles `proto/integration/integration.proto` (ChirpStack's `integration`
//! package) into Rust with prost, and its proto3 JSON serde impls with pbjson.
//!
//! The `common` and `gw` packages it imports are packet-forwarder's own
//! `.proto` files, read from `../packet-forwarder/proto` rather than copied,
//! and mapped to packet-forwarder's generated types so that an event's
//! `rx_info` is the very `gw::UplinkRxInfo` the uplink arrived with.
//!
//! protox parses the `.proto` files in pure Rust, so no system `protoc` is
//! needed: `cargo build` requires nothing beyond Rust.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let own = manifest_dir.join("proto");
    let shared = manifest_dir.join("../packet-forwarder/proto");
    println!("cargo:rerun-if-changed={}", own.display());
    println!("cargo:rerun-if-changed={}", shared.display());
    // `sqlx::migrate!` embeds these; a new migration file must rebuild.
    println!("cargo:rerun-if-changed=migrations");
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
    Ok(())
}
