#![no_main]
//! Any bytes as a Basics Station message: no panic, every parsed message is
//! written back to text that parses to an equal message, and an uplink's
//! reassembled PHYPayload reads back to the same station fields wherever
//! lorawan's stricter parser reads it (a bridge forwards, say, FPort 0 with
//! FOpts, which lorawan refuses, as the station sent it).

#[path = "../src/checks.rs"]
#[allow(dead_code)]
mod checks;

use lorawan::region::{Region, Revision, params};
use packet_forwarder::basic_station::{Jreq, StationMessage, Updf};

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

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::basic_station(
    data,
    StationMessage::parse,
    StationMessage::to_vec,
    reassemble
));
