//! Replays the checked-in fuzz corpus (`fuzz/corpus/<target>/`) through the same
//! checks the fuzz targets run, so that every `cargo test` on stable re-proves
//! what fuzzing found, without libFuzzer.

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod checks;

#[path = "../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::corpus;

#[test]
fn phy_payload_corpus_replays_cleanly() {
    for input in corpus("phy_payload") {
        checks::phy_payload(&input);
    }
}

#[test]
fn mac_commands_corpus_replays_cleanly() {
    for input in corpus("mac_commands") {
        checks::mac_commands(&input);
    }
}

#[test]
fn differential_lrwn_corpus_replays_cleanly() {
    for input in corpus("differential_lrwn") {
        checks::differential_lrwn(&input);
    }
}
