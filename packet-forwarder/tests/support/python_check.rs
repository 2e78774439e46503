//! The Rust side of the cross-checks against ChirpStack's Python package
//! `chirpstack-api`: a scratch directory, the script run with `python3`, and
//! the fixtures it wrote.
//!
//! Included by path from packet-forwarder/tests/gw_python.rs and
//! ns-core/tests/integration_python.rs, whose scripts share one convention:
//! exit code 3 when `chirpstack_api` cannot be imported, and one file pair
//! `py/<full name>.<variant>.pb`/`.json` per fixture.
#![allow(dead_code, unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const INSTALL_HINT: &str =
    "install Python 3 and `pip install chirpstack-api==4.20.0` (scripts/ensure-services does)";

/// A fresh `{prefix}-{pid}` in the temporary directory, with `subdirs`.
pub fn scratch_dir(prefix: &str, subdirs: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    for sub in subdirs {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir
}

/// Runs `python3 script args`, echoing its output; fails the test, with
/// how to install `chirpstack_api` if that is what is missing, unless the
/// script succeeds.
pub fn run_python(script: &Path, args: &[&str]) {
    let name = script.file_name().unwrap().to_string_lossy();
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): {INSTALL_HINT}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    match output.status.code() {
        Some(0) => {}
        Some(3) => panic!("python3 cannot import chirpstack_api: {INSTALL_HINT}\n{stderr}"),
        _ => panic!(
            "{name} {args:?} failed ({}):\n{stdout}{stderr}",
            output.status
        ),
    }
}

/// The fixtures the script wrote to `dir/py`: each file stem
/// (`<full name>.<variant>`) with its message's full protobuf name.
pub fn python_fixtures(dir: &Path) -> Vec<(String, String)> {
    let mut fixtures = Vec::new();
    for entry in fs::read_dir(dir.join("py")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".pb") else {
            continue;
        };
        let (full_name, _variant) = stem.rsplit_once('.').unwrap();
        fixtures.push((stem.to_owned(), full_name.to_owned()));
    }
    fixtures
}

/// Writes a message for the script to read, as `dir/{stem}.pb` and
/// `dir/{stem}.json`.
pub fn write_encodings(dir: &Path, stem: &str, protobuf: &[u8], json: &[u8]) {
    fs::write(dir.join(format!("{stem}.pb")), protobuf).unwrap();
    fs::write(dir.join(format!("{stem}.json")), json).unwrap();
}
