//! Cross-check of our `api` `.proto` files against ChirpStack's official
//! definitions, the PyPI `chirpstack-api` package: tests/python/check_api.py
//! reads the descriptor set ns-core was built with
//! (`ns_core::api::proto::FILE_DESCRIPTOR_SET`) and compares every message,
//! field, enum, service, method and `google.api.http` REST mapping of the
//! covered files with ChirpStack's, listing every difference.
//!
//! Needs `python3` with `chirpstack_api` (scripts/ensure-services installs it);
//! without them this test fails rather than skips, since it is the proof that
//! the API is ChirpStack's.

use std::fs;

// The runner the gw and integration cross-checks use too.
#[path = "../../packet-forwarder/tests/support/python_check.rs"]
mod python_check;

use python_check::{run_python, scratch_dir};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/check_api.py");

#[test]
fn api_descriptors_match_chirpstack() {
    let dir = scratch_dir("ns-core-api-python", &[]);
    fs::create_dir_all(&dir).unwrap();
    let descriptor = dir.join("api_descriptor.bin");
    fs::write(&descriptor, ns_core::api::proto::FILE_DESCRIPTOR_SET).unwrap();
    run_python(SCRIPT.as_ref(), &[descriptor.to_str().unwrap()]);
    let _ = fs::remove_dir_all(&dir);
}
