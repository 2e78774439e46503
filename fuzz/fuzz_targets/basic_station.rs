#![no_main]
//! Any bytes as a Basics Station message: no panic, every parsed message is
//! written back to text that parses to an equal message, and an uplink's
//! reassembled PHYPayload reads back to the same station fields wherever
//! lorawan's stricter parser reads it (a bridge forwards, say, FPort 0 with
//! FOpts, which lorawan refuses, as the station sent it). The same bytes, as
//! a text and as a binary frame, then drive a `Session` with statistics and
//! time transfers on, which must not panic either.

#[path = "../src/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lorawan::region::{ChannelSet, Region, Revision, params};
use packet_forwarder::basic_station::{
    Jreq, RouterConfig, RouterConfigOptions, Session, SessionConfig, StationMessage, Updf,
};

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

fn drive_session(data: &[u8]) {
    static CONFIG: OnceLock<SessionConfig> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
        SessionConfig {
            params: eu,
            router_config: RouterConfig::new(
                eu,
                &ChannelSet::first(3),
                &RouterConfigOptions::default(),
            )
            .expect("the EU868 default channels fit"),
            ack_timeout: Duration::from_secs(10),
            stats_interval: Some(Duration::from_secs(30)),
            timesync_interval: Some(Duration::from_secs(1)),
        }
    });
    let t0 = Instant::now();
    let unix = Duration::from_secs(1_700_000_000);
    let mut session = Session::new(lorawan::Eui64::from_u64(1), config.clone(), t0);
    let _ = session.handle_text(t0, unix, data);
    session.handle_binary(t0, data);
    session.handle_timeout(t0 + Duration::from_secs(30), unix + Duration::from_secs(30));
    while session.poll_event().is_some() {}
    while session.poll_transmit().is_some() {}
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::basic_station(
        data,
        StationMessage::parse,
        StationMessage::to_vec,
        reassemble,
    );
    drive_session(data);
});
