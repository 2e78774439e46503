//! Compiles `proto/` (our ChirpStack `common` and `gw` packages) into Rust with
//! prost, and their proto3 JSON serde impls with pbjson.
//!
//! protox parses the `.proto` files in pure Rust, so no system `protoc` is
//! needed: `cargo build` requires nothing beyond Rust.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &["common/common.proto", "gw/gw.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_source_info(true);
    compiler.include_imports(true);
    compiler.open_files(PROTOS)?;
    let fds = compiler.file_descriptor_set();
    let fds_bytes = compiler.encode_file_descriptor_set();
    fs::write(out_dir.join("gw_descriptor.bin"), &fds_bytes)?;

    let mut config = prost_build::Config::new();
    config
        // Without this prost-build maps `.google.protobuf` to prost-types
        // itself, and the extern path below would be a duplicate.
        .compile_well_known_types()
        // Timestamp, Duration: pbjson-types carries prost types with the
        // proto3 JSON serde impls (RFC 3339 strings, "1.5s").
        .extern_path(".google.protobuf", "::pbjson_types")
        // `impl prost::Name`, so each message knows its full protobuf name.
        .enable_type_names();
    config.compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        // Like ChirpStack: JSON from newer peers with fields we do not know yet
        // still decodes, as it does in protobuf.
        .ignore_unknown_fields()
        .build(&[".common", ".gw"])?;
    Ok(())
}
