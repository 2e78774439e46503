//! The Basics Station `Session` on a simulated clock: router_config and
//! timesync answers, acknowledgements and their timeout, raw passthrough,
//! statistics, GPS time transfers and `dnsched`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lorawan::Eui64;
use lorawan::region::{ChannelSet, Region, Revision, params};
use packet_forwarder::basic_station::{
    Error, Event, RouterConfig, RouterConfigOptions, Session, SessionConfig, Transmit, context,
    gps_time_us,
};
use packet_forwarder::gw;
use proptest::prelude::*;
use serde_json::{Value, json};

const SEC: Duration = Duration::from_secs(1);
const UNIX: Duration = Duration::from_secs(1_700_000_000);

fn eu868() -> &'static lorawan::region::RegionParams {
    params(Region::Eu868, Revision::Rp002_1_0_4)
}

fn gateway() -> Eui64 {
    Eui64::from_u64(0x0102_0304_0506_0708)
}

fn config() -> SessionConfig {
    SessionConfig {
        params: eu868(),
        router_config: RouterConfig::new(
            eu868(),
            &ChannelSet::first(3),
            &RouterConfigOptions::default(),
        )
        .unwrap(),
        ack_timeout: 10 * SEC,
        stats_interval: None,
        timesync_interval: None,
    }
}

fn session(t0: Instant) -> Session {
    Session::new(gateway(), config(), t0)
}

fn with(t0: Instant, f: impl FnOnce(&mut SessionConfig)) -> Session {
    let mut c = config();
    f(&mut c);
    Session::new(gateway(), c, t0)
}

/// The next transmit, which must be JSON text.
fn json_out(s: &mut Session) -> Value {
    match s.poll_transmit() {
        Some(Transmit::Text(t)) => t.parse().unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn lora(sf: u32, polarization_inversion: bool) -> gw::Modulation {
    gw::Modulation {
        parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
            bandwidth: 125_000,
            spreading_factor: sf,
            code_rate: gw::CodeRate::Cr45.into(),
            polarization_inversion,
            ..Default::default()
        })),
    }
}

fn item(freq: u32, sf: u32, timing: gw::timing::Parameters) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: vec![0x60, 1, 2, 3],
        tx_info: Some(gw::DownlinkTxInfo {
            frequency: freq,
            power: 14,
            modulation: Some(lora(sf, true)),
            timing: Some(gw::Timing {
                parameters: Some(timing),
            }),
            context: context(1, 0x0011_2233_4455_6677),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn delay(s: i64) -> gw::timing::Parameters {
    gw::timing::Parameters::Delay(gw::DelayTimingInfo {
        delay: Some(gw::Duration {
            seconds: s,
            nanos: 0,
        }),
    })
}

fn class_a_frame(downlink_id: u32) -> gw::DownlinkFrame {
    gw::DownlinkFrame {
        downlink_id,
        gateway_id: "0102030405060708".into(),
        items: vec![
            item(868_100_000, 7, delay(1)),
            item(869_525_000, 12, delay(2)),
        ],
        ..Default::default()
    }
}

fn class_b_frame(downlink_id: u32) -> gw::DownlinkFrame {
    gw::DownlinkFrame {
        downlink_id,
        items: vec![item(
            869_525_000,
            9,
            gw::timing::Parameters::GpsEpoch(gw::GpsEpochTimingInfo {
                time_since_gps_epoch: Some(gw::Duration {
                    seconds: 1_300_000_000,
                    nanos: 5_000,
                }),
            }),
        )],
        ..Default::default()
    }
}

/// A `propdf` on `freq` at `dr`, received at concentrator time `xtime`.
fn uplink(freq: u32, dr: u8, xtime: i64) -> String {
    format!(
        r#"{{"msgtype":"propdf","FRMPayload":"E0","DR":{dr},"Freq":{freq},
            "upinfo":{{"xtime":{xtime},"rssi":-70,"snr":7}}}}"#
    )
}

/// An uplink with the station's `RefTime` and its own `gpstime` (0: none).
fn uplink_timed(xtime: i64, ref_time: f64, gpstime: i64) -> String {
    format!(
        r#"{{"msgtype":"propdf","FRMPayload":"E0","DR":5,"Freq":868100000,"RefTime":{ref_time},
            "upinfo":{{"xtime":{xtime},"gpstime":{gpstime},"rssi":-70,"snr":7}}}}"#
    )
}

const DNTXED_RX2: &[u8] = br#"{"msgtype":"dntxed","diid":1234,"seqno":1234,"DR":0,"Freq":869525000,
    "DevEui":"01-01-01-01-01-01-01-01","rctx":0,"xtime":77,"txtime":1.5,"gpstime":0}"#;

// --- version, timesync, acknowledgements -------------------------------------

#[test]
fn version_is_answered_with_router_config_and_mux_time() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_text(
        t0,
        UNIX,
        br#"{"msgtype":"version","station":"2.0.6(rpi/std)","firmware":null,"package":null,
            "model":"rpi","protocol":2,"features":"rmtsh gps"}"#,
    )
    .unwrap();
    let Some(Event::Version(v)) = s.poll_event() else {
        panic!("no version event")
    };
    assert_eq!(v.model.as_deref(), Some("rpi"));
    assert!(!v.is_production());
    assert!(v.is_protocol_2());
    let out = json_out(&mut s);
    assert_eq!(out["msgtype"], "router_config");
    assert_eq!(out["MuxTime"], 1_700_000_000.0);
}

#[test]
fn a_version_of_another_protocol_is_answered_all_the_same() {
    // ChirpStack's bridge only logs the number; the driver may warn.
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_text(t0, UNIX, br#"{"msgtype":"version","protocol":1}"#)
        .unwrap();
    assert!(matches!(s.poll_event(), Some(Event::Version(v)) if !v.is_protocol_2()));
    assert_eq!(json_out(&mut s)["msgtype"], "router_config");
}

#[test]
fn timesync_echoes_txtime_with_gps_time() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_text(t0, UNIX, br#"{"msgtype":"timesync","txtime":1023024197}"#)
        .unwrap();
    assert_eq!(
        json_out(&mut s),
        json!({"msgtype":"timesync","txtime":1023024197,
               "gpstime":(1_700_000_000i64 - 315_964_800 + 18) * 1_000_000})
    );
}

#[test]
fn dntxed_acks_the_item_on_its_frequency() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.send_downlink(t0, UNIX, &class_a_frame(1234)).unwrap();
    assert_eq!(json_out(&mut s)["msgtype"], "dnmsg");
    assert_eq!(s.poll_timeout(), Some(t0 + 10 * SEC));
    s.handle_text(t0 + 2 * SEC, UNIX, DNTXED_RX2).unwrap();
    let Some(Event::TxAck(ack)) = s.poll_event() else {
        panic!("no ack")
    };
    assert_eq!(ack.downlink_id, 1234);
    assert_eq!(ack.gateway_id, "0102030405060708");
    let st: Vec<_> = ack.items.iter().map(|i| i.status()).collect();
    assert_eq!(st, [gw::TxAckStatus::Ignored, gw::TxAckStatus::Ok]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn missing_dntxed_becomes_a_negative_ack_after_the_timeout() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.send_downlink(t0, UNIX, &class_a_frame(1234)).unwrap();
    s.handle_timeout(t0 + 9 * SEC, UNIX + 9 * SEC);
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(t0 + 10 * SEC, UNIX + 10 * SEC);
    let Some(Event::TxAck(ack)) = s.poll_event() else {
        panic!("no negative ack")
    };
    let st: Vec<_> = ack.items.iter().map(|i| i.status()).collect();
    assert_eq!(
        st,
        [gw::TxAckStatus::InternalError, gw::TxAckStatus::Ignored]
    );
    assert_eq!(s.poll_timeout(), None);
    // A late dntxed is still reported, with the single item it can name.
    s.handle_text(t0 + 11 * SEC, UNIX, br#"{"msgtype":"dntxed","diid":1234}"#)
        .unwrap();
    assert!(matches!(s.poll_event(), Some(Event::TxAck(_))));
}

#[test]
fn session_uplinks_get_consecutive_uplink_ids() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.set_next_uplink_id(41);
    for _ in 0..2 {
        s.handle_text(t0, UNIX, uplink(868_100_000, 5, 2).as_bytes())
            .unwrap();
    }
    let ids: Vec<u32> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            Event::Uplink(f) => f.rx_info.unwrap().uplink_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [41, 42]);
}

// --- raw passthrough ----------------------------------------------------------

#[test]
fn text_with_a_msgtype_the_session_does_not_read_is_passed_through_raw() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let texts: [&[u8]; 3] = [
        br#"{"msgtype":"getxtime","MuxTime":1.5,"ustime":2.5,"UTCtime":3.5,"xtimes":[1,0]}"#,
        br#"{"msgtype":"error","error":"whatever"}"#,
        br#" { "msgtype" : "runcmd" , "x" : [1, {"y": null}] } "#,
    ];
    for text in texts {
        s.handle_text(t0, UNIX, text).unwrap();
        assert_eq!(
            s.poll_event(),
            Some(Event::Raw(gw::RawPacketForwarderEvent {
                gateway_id: "0102030405060708".into(),
                payload: text.to_vec(),
                ..Default::default()
            }))
        );
    }
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn binary_frames_are_passed_through_raw() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_binary(t0, &[0x00, 0xff, 0x80]);
    s.handle_binary(t0, &[]);
    let payloads: Vec<Vec<u8>> = events(&mut s)
        .into_iter()
        .map(|e| match e {
            Event::Raw(r) => {
                assert_eq!(r.gateway_id, "0102030405060708");
                r.payload
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(payloads, [vec![0x00, 0xff, 0x80], vec![]]);
}

#[test]
fn text_that_is_not_a_message_is_an_error_and_no_event() {
    let t0 = Instant::now();
    let mut s = session(t0);
    for text in [
        &b"not json"[..],
        br#"{"msgtype":"getxtime""#,
        br#"{"msgtype":"getxtime"} trailing"#,
        br#"{"no":"msgtype"}"#,
        br#"{"msgtype":7}"#,
        br#"[1,2]"#,
    ] {
        let e = s.handle_text(t0, UNIX, text).unwrap_err();
        assert!(
            matches!(e, Error::Syntax(_) | Error::MissingMsgType),
            "{e:?}"
        );
    }
    // A message the session reads but cannot use is an error too.
    assert!(
        s.handle_text(t0, UNIX, br#"{"msgtype":"updf","DR":5}"#)
            .is_err()
    );
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_transmit(), None);
}

#[test]
fn raw_commands_go_out_as_text_when_utf8_and_binary_otherwise() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let cmd = |payload: &[u8]| gw::RawPacketForwarderCommand {
        gateway_id: "0102030405060708".into(),
        payload: payload.to_vec(),
        ..Default::default()
    };
    s.send_raw(&cmd(br#"{"msgtype":"getxtime"}"#));
    s.send_raw(&cmd("héllo".as_bytes()));
    s.send_raw(&cmd(&[0x01, 0xc3, 0x28]));
    let out: Vec<Transmit> = std::iter::from_fn(|| s.poll_transmit()).collect();
    assert_eq!(
        out,
        [
            Transmit::Text(r#"{"msgtype":"getxtime"}"#.into()),
            Transmit::Text("héllo".into()),
            Transmit::Binary(vec![0x01, 0xc3, 0x28]),
        ]
    );
}

// --- statistics ------------------------------------------------------------------

fn stats_of(e: Option<Event>) -> gw::GatewayStats {
    match e {
        Some(Event::Stats(s)) => *s,
        other => panic!("expected stats, got {other:?}"),
    }
}

#[test]
fn without_a_stats_interval_there_are_no_stats() {
    let t0 = Instant::now();
    for interval in [None, Some(Duration::ZERO)] {
        let mut s = with(t0, |c| c.stats_interval = interval);
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(t0 + 3600 * SEC, UNIX);
        assert_eq!(s.poll_event(), None);
    }
}

#[test]
fn stats_are_due_one_interval_after_the_session_starts_and_then_every_interval() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.stats_interval = Some(30 * SEC));
    assert_eq!(s.poll_timeout(), Some(t0 + 30 * SEC));
    s.handle_timeout(t0 + 30 * SEC - Duration::from_nanos(1), UNIX);
    assert_eq!(s.poll_event(), None);
    s.handle_timeout(t0 + 30 * SEC, UNIX + 30 * SEC);
    let st = stats_of(s.poll_event());
    assert_eq!(st.gateway_id, "0102030405060708");
    assert_eq!(
        st.time,
        Some(gw::Timestamp {
            seconds: 1_700_000_030,
            nanos: 0
        })
    );
    assert_eq!(s.poll_event(), None);
    // Late by 5 s: the next is still on the 30 s grid.
    assert_eq!(s.poll_timeout(), Some(t0 + 60 * SEC));
    s.handle_timeout(t0 + 65 * SEC, UNIX + 65 * SEC);
    assert!(matches!(s.poll_event(), Some(Event::Stats(_))));
    assert_eq!(s.poll_timeout(), Some(t0 + 90 * SEC));
    // A stall of several intervals gives one stats, and a fresh start.
    s.handle_timeout(t0 + 200 * SEC, UNIX + 200 * SEC);
    assert_eq!(events(&mut s).len(), 1);
    assert_eq!(s.poll_timeout(), Some(t0 + 230 * SEC));
}

#[test]
fn stats_count_the_traffic_between_two_reports_and_then_start_again() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.stats_interval = Some(30 * SEC));
    // Three uplinks: two at DR5 (SF7) on 868.1, one at DR0 (SF12) on 868.3.
    for (freq, dr) in [(868_100_000, 5), (868_300_000, 0), (868_100_000, 5)] {
        s.handle_text(t0, UNIX, uplink(freq, dr, 2).as_bytes())
            .unwrap();
    }
    // Three downlinks: one emitted on RX2, one never acknowledged, one
    // scheduled (no acknowledgement expected).
    s.send_downlink(t0, UNIX, &class_a_frame(1234)).unwrap();
    s.send_downlink(t0, UNIX, &class_a_frame(99)).unwrap();
    s.send_scheduled(t0, UNIX, &class_b_frame(7)).unwrap();
    s.handle_text(t0 + SEC, UNIX, DNTXED_RX2).unwrap();
    s.handle_timeout(t0 + 10 * SEC, UNIX + 10 * SEC);
    let _ = events(&mut s);

    s.handle_timeout(t0 + 30 * SEC, UNIX + 30 * SEC);
    let st = stats_of(s.poll_event());
    assert_eq!((st.rx_packets_received, st.rx_packets_received_ok), (3, 3));
    assert_eq!(st.rx_packets_per_frequency.len(), 2);
    assert_eq!(st.rx_packets_per_frequency[&868_100_000], 2);
    assert_eq!(st.rx_packets_per_frequency[&868_300_000], 1);
    let rx_mod: Vec<(gw::Modulation, u32)> = st
        .rx_packets_per_modulation
        .iter()
        .map(|c| (c.modulation.clone().unwrap(), c.count))
        .collect();
    assert_eq!(rx_mod, [(lora(7, false), 2), (lora(12, false), 1)]);
    assert_eq!((st.tx_packets_received, st.tx_packets_emitted), (3, 1));
    assert_eq!(
        st.tx_packets_per_frequency,
        [(869_525_000, 1)].into_iter().collect()
    );
    assert_eq!(
        st.tx_packets_per_modulation,
        [gw::PerModulationCount {
            modulation: Some(lora(12, true)),
            count: 1
        }]
    );
    assert_eq!(
        st.tx_packets_per_status,
        [("OK".to_string(), 1), ("INTERNAL_ERROR".to_string(), 1)]
            .into_iter()
            .collect()
    );

    s.handle_timeout(t0 + 60 * SEC, UNIX + 60 * SEC);
    assert_eq!(
        stats_of(s.poll_event()),
        gw::GatewayStats {
            gateway_id: "0102030405060708".into(),
            time: Some(gw::Timestamp {
                seconds: 1_700_000_060,
                nanos: 0
            }),
            ..Default::default()
        }
    );
}

#[test]
fn a_dntxed_for_an_unknown_downlink_counts_what_the_station_says_it_used() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.stats_interval = Some(30 * SEC));
    s.handle_text(t0, UNIX, DNTXED_RX2).unwrap();
    s.handle_timeout(t0 + 30 * SEC, UNIX);
    let events = events(&mut s);
    let Some(Event::Stats(st)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!((st.tx_packets_received, st.tx_packets_emitted), (0, 1));
    assert_eq!(st.tx_packets_per_frequency[&869_525_000], 1);
    assert_eq!(
        st.tx_packets_per_modulation[0].modulation,
        Some(lora(12, false))
    );
}

#[test]
fn ack_timeouts_and_stats_due_together_are_both_handled_acks_first() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.stats_interval = Some(10 * SEC));
    s.send_downlink(t0, UNIX, &class_a_frame(5)).unwrap();
    s.send_downlink(t0 + 3 * SEC, UNIX, &class_a_frame(6))
        .unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + 10 * SEC));
    s.handle_timeout(t0 + 10 * SEC, UNIX + 10 * SEC);
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(&ev[0], Event::TxAck(a) if a.downlink_id == 5));
    let Event::Stats(st) = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(st.tx_packets_received, 2);
    assert_eq!(st.tx_packets_per_status["INTERNAL_ERROR"], 1);
    // Downlink 6 is due before the next stats.
    assert_eq!(s.poll_timeout(), Some(t0 + 13 * SEC));
    s.handle_timeout(t0 + 13 * SEC, UNIX + 13 * SEC);
    assert!(matches!(s.poll_event(), Some(Event::TxAck(a)) if a.downlink_id == 6));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_timeout(), Some(t0 + 20 * SEC));
    s.handle_timeout(t0 + 20 * SEC, UNIX + 20 * SEC);
    let st = stats_of(s.poll_event());
    assert_eq!(st.tx_packets_received, 0);
    assert_eq!(st.tx_packets_per_status["INTERNAL_ERROR"], 1);
}

// --- GPS time transfer ---------------------------------------------------------

/// Drains the queue, keeping the time transfers.
fn transfers(s: &mut Session) -> Vec<Value> {
    std::iter::from_fn(|| s.poll_transmit())
        .map(|t| match t {
            Transmit::Text(t) => t.parse::<Value>().unwrap(),
            other => panic!("{other:?}"),
        })
        .filter(|v| v["msgtype"] == "timesync")
        .collect()
}

#[test]
fn no_time_transfer_without_a_timesync_interval() {
    let t0 = Instant::now();
    for interval in [None, Some(Duration::ZERO)] {
        let mut s = with(t0, |c| c.timesync_interval = interval);
        s.handle_text(t0, UNIX, uplink(868_100_000, 5, 1 << 48).as_bytes())
            .unwrap();
        assert_eq!(s.poll_transmit(), None);
    }
}

#[test]
fn time_transfers_follow_uplinks_at_most_once_per_interval() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.timesync_interval = Some(60 * SEC));
    let xtime = |i: i64| (7 << 48) + i * 1_000_000;
    // First uplink: a transfer at once, as ChirpStack does.
    s.handle_text(t0, UNIX, uplink(868_100_000, 5, xtime(0)).as_bytes())
        .unwrap();
    assert_eq!(
        transfers(&mut s),
        [json!({"msgtype":"timesync","xtime":xtime(0),"gpstime":gps_time_us(UNIX)})]
    );
    // 59 s later: too early.
    s.handle_text(
        t0 + 59 * SEC,
        UNIX + 59 * SEC,
        uplink(868_100_000, 5, xtime(59)).as_bytes(),
    )
    .unwrap();
    assert_eq!(transfers(&mut s), Vec::<Value>::new());
    // 60 s: due; the station now reports GPS times derived from the first
    // transfer, which does not stop the refresh.
    s.handle_text(
        t0 + 60 * SEC,
        UNIX + 60 * SEC,
        uplink_timed(xtime(60), 0.0, 1_300_000_000_000_000).as_bytes(),
    )
    .unwrap();
    assert_eq!(
        transfers(&mut s),
        [json!({"msgtype":"timesync","xtime":xtime(60),"gpstime":gps_time_us(UNIX + 60 * SEC)})]
    );
    // The interval runs from the last transfer, not from the first uplink.
    s.handle_text(
        t0 + 119 * SEC,
        UNIX + 119 * SEC,
        uplink(868_100_000, 5, xtime(119)).as_bytes(),
    )
    .unwrap();
    assert_eq!(transfers(&mut s), Vec::<Value>::new());
    // Uplinks still go up as usual.
    assert_eq!(events(&mut s).len(), 4);
}

#[test]
fn a_station_with_gps_time_of_its_own_gets_no_transfer() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.timesync_interval = Some(60 * SEC));
    for i in 0..3 {
        s.handle_text(
            t0 + i * 100 * SEC,
            UNIX,
            uplink_timed(1 << 48, 0.0, 1_300_000_000_000_000).as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(s.poll_transmit(), None);
    // Once it reports none (PPS lost), it gets one.
    s.handle_text(
        t0 + 400 * SEC,
        UNIX,
        uplink_timed(1 << 48, 0.0, 0).as_bytes(),
    )
    .unwrap();
    assert_eq!(transfers(&mut s).len(), 1);
}

#[test]
fn a_transfer_needs_an_xtime() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.timesync_interval = Some(60 * SEC));
    s.handle_text(t0, UNIX, uplink(868_100_000, 5, 0).as_bytes())
        .unwrap();
    assert_eq!(s.poll_transmit(), None);
    // The next uplink with one is not held back by the one without.
    s.handle_text(t0 + SEC, UNIX, uplink(868_100_000, 5, 5).as_bytes())
        .unwrap();
    assert_eq!(transfers(&mut s).len(), 1);
}

#[test]
fn the_transfer_gps_time_is_the_midpoint_of_ref_time_and_reception() {
    let t0 = Instant::now();
    let mut s = with(t0, |c| c.timesync_interval = Some(SEC));
    // RefTime 100 ms behind the LNS clock: 50 ms each way.
    s.handle_text(t0, UNIX, uplink_timed(9, 1_699_999_999.9, 0).as_bytes())
        .unwrap();
    // RefTime ahead of the LNS clock, or 2 s behind: the LNS clock alone.
    s.handle_text(
        t0 + SEC,
        UNIX,
        uplink_timed(9, 1_700_000_000.5, 0).as_bytes(),
    )
    .unwrap();
    s.handle_text(
        t0 + 2 * SEC,
        UNIX,
        uplink_timed(9, 1_699_999_998.0, 0).as_bytes(),
    )
    .unwrap();
    let gps: Vec<i64> = transfers(&mut s)
        .iter()
        .map(|v| v["gpstime"].as_i64().unwrap())
        .collect();
    assert_eq!(
        gps,
        [
            gps_time_us(UNIX - Duration::from_millis(50)),
            gps_time_us(UNIX),
            gps_time_us(UNIX),
        ]
    );
}

// --- dnsched ---------------------------------------------------------------------

#[test]
fn scheduled_downlinks_go_as_dnsched_and_expect_no_acknowledgement() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.send_scheduled(t0, UNIX, &class_b_frame(7)).unwrap();
    assert_eq!(
        json_out(&mut s),
        json!({"msgtype":"dnsched","MuxTime":1_700_000_000.0,"schedule":[{
            "diid":7,"priority":1,"DR":3,"Freq":869_525_000,
            "gpstime":1_300_000_000_000_005u64,"pdu":"60010203","rctx":1}]})
    );
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + 3600 * SEC, UNIX);
    assert_eq!(s.poll_event(), None);
    // Only GPS-timed frames can be scheduled.
    assert!(matches!(
        s.send_scheduled(t0, UNIX, &class_a_frame(8)),
        Err(Error::Downlink(_))
    ));
    assert_eq!(s.poll_transmit(), None);
}

// --- no panics ----------------------------------------------------------------------

fn busy_session(t0: Instant) -> Session {
    let mut s = with(t0, |c| {
        c.stats_interval = Some(SEC);
        c.timesync_interval = Some(SEC);
    });
    s.send_downlink(t0, UNIX, &class_a_frame(1)).unwrap();
    s
}

fn drive(s: &mut Session, t0: Instant, input: &[u8]) {
    let _ = s.handle_text(t0, UNIX, input);
    s.handle_binary(t0, input);
    s.handle_timeout(t0 + 2 * SEC, UNIX + 2 * SEC);
    while s.poll_event().is_some() {}
    while s.poll_transmit().is_some() {}
}

#[test]
fn the_fuzz_corpus_drives_a_session_without_panicking() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/basic_station");
    let t0 = Instant::now();
    let mut s = busy_session(t0);
    for entry in std::fs::read_dir(dir).unwrap() {
        drive(&mut s, t0, &std::fs::read(entry.unwrap().path()).unwrap());
    }
}

proptest! {
    #[test]
    fn any_bytes_drive_a_session_without_panicking(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let t0 = Instant::now();
        drive(&mut busy_session(t0), t0, &input);
    }

    #[test]
    fn any_uplink_times_drive_a_session_without_panicking(
        xtime in any::<i64>(),
        gpstime in any::<i64>(),
        ref_time in any::<f64>(),
        unix_s in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let mut s = busy_session(t0);
        let text = format!(
            r#"{{"msgtype":"propdf","FRMPayload":"E0","DR":5,"Freq":868100000,"RefTime":{},
                "upinfo":{{"xtime":{xtime},"gpstime":{gpstime},"rssi":-70,"snr":7}}}}"#,
            if ref_time.is_finite() { ref_time } else { 0.0 }
        );
        let _ = s.handle_text(t0, Duration::from_secs(unix_s), text.as_bytes());
        s.handle_timeout(t0 + 2 * SEC, Duration::from_secs(unix_s));
    }
}
