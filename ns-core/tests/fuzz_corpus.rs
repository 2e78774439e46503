//! Replays the checked-in network-server fuzz corpora (`fuzz/corpus/<target>/`
//! of `gateway_event`, `downlink_command`, `ns_uplink`, `ns_mac`) through the
//! checks their fuzz targets run, on stable, in every `cargo test`.

#[path = "../../fuzz/src/ns_checks.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod ns_checks;

#[path = "../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::corpus;

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

#[test]
fn api_auth_corpus_replays_cleanly() {
    for input in corpus("api_auth") {
        ns_checks::api_auth(&input);
    }
}
