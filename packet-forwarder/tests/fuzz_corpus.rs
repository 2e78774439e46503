//! Replays the checked-in Semtech UDP and Basics Station fuzz corpora
//! (`fuzz/corpus/semtech_udp/`, `fuzz/corpus/basic_station/`) through the
//! checks their fuzz targets run, on stable, in every `cargo test`.

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod checks;

#[path = "../../fuzz/src/corpus.rs"]
mod corpus;

use corpus::corpus;

use lorawan::region::{Region, Revision, params};
use packet_forwarder::basic_station::{Jreq, StationMessage, Updf};
use packet_forwarder::semtech_udp::Packet;

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

/// The `basic_station` fuzz target's `reassemble`: an uplink's PHYPayload reads
/// back to the same station fields wherever lorawan's stricter parser reads it.
fn reassemble(message: &StationMessage) {
    if let Some(Ok((phy, radio))) = message.uplink() {
        match message {
            StationMessage::Updf(u) => {
                if let Ok(back) = Updf::from_phy_payload(&phy, radio.clone()) {
                    assert_eq!(&back, u);
                }
            }
            StationMessage::Jreq(j) => {
                let back = Jreq::from_phy_payload(&phy, radio.clone())
                    .expect("a reassembled jreq reads back");
                assert_eq!(&back, j);
            }
            _ => {}
        }
    }
    let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
    let _ = message.uplink_frame(eu, lorawan::Eui64::from_u64(1), 1);
}

#[test]
fn basic_station_corpus_replays_cleanly() {
    for input in corpus("basic_station") {
        checks::basic_station(
            &input,
            StationMessage::parse,
            StationMessage::to_vec,
            reassemble,
        );
    }
}

#[test]
fn basic_station_seed_messages_all_parse() {
    for input in corpus("basic_station") {
        StationMessage::parse(&input)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&input)));
    }
}
