//! Replays the checked-in network-server fuzz corpora (`fuzz/corpus/<target>/`
//! of `gateway_event`, `downlink_command`, `ns_uplink`, `ns_mac`) through the
//! checks their fuzz targets run, on stable, in every `cargo test`.

#[path = "../../fuzz/src/ns_checks.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod ns_checks;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("corpus entry").path()).expect("corpus file"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
    inputs
}

#[test]
fn gateway_event_corpus_replays_cleanly() {
    for input in corpus("gateway_event") {
        ns_checks::gateway_event(&input);
    }
}

#[test]
fn downlink_command_corpus_replays_cleanly() {
    for input in corpus("downlink_command") {
        ns_checks::downlink_command(&input);
    }
}

#[test]
fn ns_uplink_corpus_replays_cleanly() {
    for input in corpus("ns_uplink") {
        ns_checks::ns_uplink(&input);
    }
}

#[test]
fn ns_mac_corpus_replays_cleanly() {
    for input in corpus("ns_mac") {
        ns_checks::ns_mac(&input);
    }
}
