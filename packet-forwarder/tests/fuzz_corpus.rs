//! Replays the checked-in Semtech UDP fuzz corpus (`fuzz/corpus/semtech_udp/`)
//! through the check the `semtech_udp` fuzz target runs, on stable, in every
//! `cargo test`.

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod checks;

use std::path::PathBuf;

use packet_forwarder::semtech_udp::Packet;

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
fn semtech_udp_corpus_replays_cleanly() {
    for input in corpus("semtech_udp") {
        checks::semtech_udp(&input, Packet::parse, Packet::to_vec);
    }
}

#[test]
fn semtech_udp_seed_datagrams_all_parse() {
    // The seeds are valid datagrams; a codec change that rejects one is a regression.
    for input in corpus("semtech_udp") {
        Packet::parse(&input)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&input)));
    }
}
