//! Replays the checked-in corpus of the `sim_device` fuzz target
//! (`fuzz/corpus/sim_device/`) through the checks it runs, on stable, in
//! every `cargo test`.

#[path = "../../../fuzz/src/sim_checks.rs"]
#[allow(unreachable_pub)]
mod sim_checks;

#[path = "../../../fuzz/src/corpus.rs"]
mod corpus;

#[test]
fn sim_device_corpus_replays_cleanly() {
    for input in corpus::corpus("sim_device") {
        sim_checks::sim_device(&input);
    }
}
