//! The sans-IO Semtech UDP server driven by simulated gateways on a simulated
//! clock: every exchange runs in microseconds and never depends on a socket,
//! except the last test, which plays one exchange over real UDP on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use lorawan::Eui64;
use packet_forwarder::semtech_udp::server::{
    Config, DatagramError, Event, SendError, Server, Transmit, TxStatus, token,
};
use packet_forwarder::semtech_udp::{
    DataRate, Error, Identifier, ProtocolVersion, PullResp, TxAck, TxAckError, TxAckPayload,
    TxModulation, TxPk, TxpkAck,
};

const GW: Eui64 = Eui64::from_u64(0x0102_0304_0506_0708);
const SEC: Duration = Duration::from_secs(1);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], port))
}

fn pull_data(version: u8, token: u16, eui: Eui64) -> Vec<u8> {
    let [t0, t1] = token.to_be_bytes();
    [&[version, t0, t1, 2][..], &eui.to_be_bytes()].concat()
}

fn push_data(token: u16, eui: Eui64, json: &str) -> Vec<u8> {
    let [t0, t1] = token.to_be_bytes();
    [&[2, t0, t1, 0][..], &eui.to_be_bytes(), json.as_bytes()].concat()
}

fn tx_ack(token: u16, eui: Eui64, error: Option<TxAckError>) -> Vec<u8> {
    TxAck {
        version: ProtocolVersion::V2,
        token,
        gateway_eui: eui,
        payload: error.map(|error| TxAckPayload {
            txpk_ack: TxpkAck {
                error: Some(error),
                ..TxpkAck::default()
            },
        }),
    }
    .to_vec()
}

const RXPK: &str = r#"{"rxpk":[{"tmst":3512348611,"chan":2,"rfch":0,"freq":866.349812,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/6","rssi":-35,"lsnr":5.1,"size":3,"data":"AAEC"},{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF12BW125","codr":"4/5","size":0,"data":""}]}"#;
const STAT: &str = r#"{"stat":{"time":"2014-01-12 08:59:28 GMT","rxnb":2,"rxok":2,"rxfw":2,"ackr":100.0,"dwnb":2,"txnb":2}}"#;

fn txpk(freq: f64) -> TxPk {
    TxPk {
        imme: false,
        tmst: Some(1_000_000),
        tmms: None,
        freq,
        rfch: 0,
        powe: Some(14),
        modu: TxModulation::Lora,
        datr: serde_json::from_str::<DataRate>(r#""SF7BW125""#).unwrap(),
        codr: serde_json::from_str(r#""4/5""#).unwrap(),
        fdev: None,
        ipol: true,
        prea: None,
        size: 3,
        data: vec![1, 2, 3],
        ncrc: false,
        nhdr: false,
        brd: None,
        ant: None,
    }
}

fn transmits(s: &mut Server<SocketAddr>) -> Vec<Transmit<SocketAddr>> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Server<SocketAddr>) -> Vec<Event<SocketAddr>> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A server with `GW` connected over PULL_DATA from `addr(port)`, queues empty.
fn connected(t0: Instant, version: u8, port: u16) -> Server<SocketAddr> {
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(port), &pull_data(version, 1, GW));
    transmits(&mut s);
    events(&mut s);
    s
}

fn pull_resp(t: &Transmit<SocketAddr>) -> PullResp {
    PullResp::parse(&t.bytes).unwrap()
}

#[test]
fn push_ack_is_queued_before_the_uplink_is_handed_out() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(1), &push_data(0xabcd, GW, RXPK));
    // The ack is already queued: the driver sends it before it polls events.
    let acks = transmits(&mut s);
    assert_eq!(
        acks,
        [Transmit {
            destination: addr(1),
            bytes: vec![2, 0xab, 0xcd, 1]
        }]
    );
    let ev = events(&mut s);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(matches!(
        ev[0],
        Event::GatewayConnected { gateway_eui: GW, address, version: ProtocolVersion::V2 } if address == addr(1)
    ));
    let Event::Uplink {
        gateway_eui,
        received_at,
        rxpk,
    } = &ev[1]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((*gateway_eui, *received_at, rxpk.len()), (GW, t0, 2));
    assert_eq!(rxpk[0].data, [0, 1, 2]);
    assert_eq!(rxpk[1].tmst, 1);
    assert_eq!(s.counters().rxpk, 2);
    assert_eq!(s.counters().datagrams_out.push_ack, 1);
}

#[test]
fn push_data_with_bad_json_is_acked_and_counted_but_changes_nothing() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(1), &push_data(7, GW, r#"{"rxpk":[{"tmst":"#));
    assert_eq!(transmits(&mut s)[0].bytes, [2, 0, 7, 1]);
    let ev = events(&mut s);
    assert!(
        matches!(
            &ev[..],
            [Event::DatagramError {
                error: DatagramError::Malformed(Error::Json {
                    identifier: Identifier::PushData,
                    ..
                }),
                ..
            }]
        ),
        "{ev:?}"
    );
    assert_eq!(s.gateway_count(), 0);
    assert_eq!(s.counters().errors.json, 1);
    assert_eq!(s.poll_timeout(), None);
    // A PUSH_DATA too short for its EUI is still acknowledged: the header is enough.
    s.handle_datagram(t0, addr(1), &[2, 0, 8, 0, 1, 2]);
    assert_eq!(transmits(&mut s)[0].bytes, [2, 0, 8, 1]);
    assert_eq!(s.counters().errors.truncated, 1);
    assert_eq!(s.gateway_count(), 0);
}

#[test]
fn stat_becomes_a_stats_event() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.handle_datagram(t0 + SEC, addr(1), &push_data(3, GW, STAT));
    let ev = events(&mut s);
    let [
        Event::Stats {
            gateway_eui: GW,
            received_at,
            stat,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((*received_at, stat.rxnb, stat.txnb), (t0 + SEC, 2, 2));
    assert_eq!(s.counters().stat, 1);
}

#[test]
fn pull_data_is_acked_and_the_latest_address_gets_the_downlink() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(1000), &pull_data(2, 0x1234, GW));
    assert_eq!(
        transmits(&mut s),
        [Transmit {
            destination: addr(1000),
            bytes: vec![2, 0x12, 0x34, 4]
        }]
    );
    assert_eq!(events(&mut s).len(), 1);
    // The gateway's NAT moves it to another port: no new connection event.
    s.handle_datagram(t0 + 5 * SEC, addr(2000), &pull_data(2, 0x5678, GW));
    assert_eq!(transmits(&mut s)[0].destination, addr(2000));
    assert_eq!(events(&mut s), []);
    assert_eq!(s.gateway(GW).unwrap().pull_address, Some(addr(2000)));

    s.send_downlink(t0 + 6 * SEC, GW, 0x00ab_cdef, vec![txpk(868.1)])
        .unwrap();
    let tx = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].destination, addr(2000));
    // Token = low 16 bits of the downlink id, most significant byte first.
    assert_eq!(tx[0].bytes[..4], [2, 0xcd, 0xef, 3]);
    assert_eq!(pull_resp(&tx[0]).payload.txpk, txpk(868.1));
}

#[test]
fn version_2_downlink_is_accepted_on_tx_ack() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 42, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    let tx = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(pull_resp(&tx[0]).version, ProtocolVersion::V2);
    assert_eq!(s.pending_downlinks(), 1);
    // TX_ACK comes from the up port, not the PULL_DATA address.
    s.handle_datagram(t0 + SEC / 100, addr(9), &tx_ack(token(42), GW, None));
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 42,
            statuses: vec![TxStatus::Accepted]
        }]
    );
    assert_eq!(transmits(&mut s), []);
    assert_eq!(s.pending_downlinks(), 0);
    assert_eq!(s.poll_timeout(), Some(t0 + 60 * SEC));
    assert_eq!(s.counters().downlinks.accepted, 1);
}

#[test]
fn tx_power_warning_is_accepted_with_its_value() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 1, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    transmits(&mut s);
    let mut ack = vec![2, 0, 1, 5];
    ack.extend_from_slice(&GW.to_be_bytes());
    ack.extend_from_slice(br#"{"txpk_ack":{"warn":"TX_POWER","value":20}}"#);
    s.handle_datagram(t0, addr(1), &ack);
    let statuses = vec![TxStatus::AcceptedWithWarning {
        warning: TxAckError::TxPower,
        value: Some(20),
    }];
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 1,
            statuses
        }]
    );
    assert_eq!(transmits(&mut s), [], "the warning does not try RX2");
}

#[test]
fn tx_ack_error_sends_the_next_item() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 0x1_0007, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    assert_eq!(pull_resp(&transmits(&mut s)[0]).payload.txpk.freq, 868.1);
    s.handle_datagram(
        t0,
        addr(1),
        &tx_ack(7, GW, Some(TxAckError::CollisionPacket)),
    );
    assert_eq!(events(&mut s), [], "no ack while an item is left");
    let tx = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    let resp = pull_resp(&tx[0]);
    assert_eq!((resp.token, resp.payload.txpk.freq), (7, 869.525));
    s.handle_datagram(t0 + SEC / 10, addr(1), &tx_ack(7, GW, None));
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 0x1_0007,
            statuses: vec![
                TxStatus::Rejected(TxAckError::CollisionPacket),
                TxStatus::Accepted
            ]
        }]
    );
    let c = s.counters().downlinks;
    assert_eq!((c.rejected, c.accepted, c.acks), (1, 1, 1));
}

#[test]
fn all_items_rejected_reports_every_status() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 5, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    s.handle_datagram(t0, addr(1), &tx_ack(5, GW, Some(TxAckError::TooLate)));
    s.handle_datagram(t0, addr(1), &tx_ack(5, GW, Some(TxAckError::TxFreq)));
    assert_eq!(transmits(&mut s).len(), 2);
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 5,
            statuses: vec![
                TxStatus::Rejected(TxAckError::TooLate),
                TxStatus::Rejected(TxAckError::TxFreq)
            ]
        }]
    );
    assert_eq!(s.pending_downlinks(), 0);
    // A late duplicate TX_ACK matches nothing any more.
    s.handle_datagram(t0, addr(1), &tx_ack(5, GW, None));
    assert_eq!(s.counters().errors.unmatched_tx_ack, 1);
}

#[test]
fn missing_tx_ack_times_out() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 9, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    transmits(&mut s);
    let deadline = t0 + Config::default().tx_ack_timeout;
    assert_eq!(s.poll_timeout(), Some(deadline));
    s.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(events(&mut s), []);
    s.handle_timeout(deadline);
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 9,
            statuses: vec![TxStatus::Timeout]
        }]
    );
    assert_eq!(transmits(&mut s), [], "a timeout does not try RX2");
    // The TX_ACK arriving after the deadline is unmatched.
    s.handle_datagram(deadline, addr(1), &tx_ack(9, GW, None));
    assert_eq!(s.counters().errors.unmatched_tx_ack, 1);
    assert_eq!(s.counters().downlinks.timeout, 1);
}

#[test]
fn retry_restarts_the_tx_ack_timeout() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 9, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    let t1 = t0 + 4 * SEC;
    s.handle_datagram(t1, addr(1), &tx_ack(9, GW, Some(TxAckError::TooEarly)));
    s.handle_timeout(t0 + 5 * SEC);
    assert_eq!(events(&mut s), [], "the first item's deadline is stale");
    assert_eq!(s.poll_timeout(), Some(t1 + 5 * SEC));
    s.handle_timeout(t1 + 5 * SEC);
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [Event::DownlinkAck { statuses, .. }]
            if *statuses == [TxStatus::Rejected(TxAckError::TooEarly), TxStatus::Timeout]),
        "{ev:?}"
    );
}

#[test]
fn version_1_gateway_gets_v1_pull_resp_and_an_unacknowledged_ack() {
    let t0 = Instant::now();
    let mut s = connected(t0, 1, 1);
    assert_eq!(s.gateway(GW).unwrap().version, ProtocolVersion::V1);
    s.send_downlink(t0, GW, 3, vec![txpk(868.1), txpk(869.525)])
        .unwrap();
    let tx = transmits(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].bytes[..4], [1, 0, 3, 3]);
    let delay = Config::default().v1_ack_delay;
    assert_eq!(s.poll_timeout(), Some(t0 + delay));
    s.handle_timeout(t0 + delay);
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 3,
            statuses: vec![TxStatus::Unacknowledged]
        }]
    );
    assert_eq!(transmits(&mut s), []);
    assert_eq!(s.counters().downlinks.unacknowledged, 1);
}

#[test]
fn protocol_version_follows_the_latest_pull_data() {
    let t0 = Instant::now();
    let mut s = connected(t0, 1, 1);
    s.handle_datagram(t0, addr(1), &pull_data(2, 2, GW));
    assert_eq!(transmits(&mut s)[0].bytes, [2, 0, 2, 4]);
    s.send_downlink(t0, GW, 3, vec![txpk(868.1)]).unwrap();
    assert_eq!(
        pull_resp(&transmits(&mut s)[0]).version,
        ProtocolVersion::V2
    );
    assert_eq!(
        s.poll_timeout(),
        Some(t0 + Config::default().tx_ack_timeout)
    );
}

#[test]
fn gateway_goes_offline_without_pull_data_and_comes_back() {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.connection_timeout = 30 * SEC;
    let mut s = Server::new(config);
    s.handle_datagram(t0, addr(1), &pull_data(2, 1, GW));
    assert!(matches!(
        events(&mut s)[..],
        [Event::GatewayConnected { .. }]
    ));
    // Keep-alives every 5 s push the deadline out.
    for i in 1..=6 {
        s.handle_datagram(t0 + i * 5 * SEC, addr(1), &pull_data(2, 1, GW));
        s.handle_timeout(t0 + i * 5 * SEC);
    }
    assert_eq!(events(&mut s), []);
    let last = t0 + 30 * SEC;
    assert_eq!(s.poll_timeout(), Some(last + 30 * SEC));
    // PUSH_DATA alone does not keep the downlink path open.
    s.handle_datagram(last + 20 * SEC, addr(1), &push_data(1, GW, STAT));
    events(&mut s);
    s.handle_timeout(last + 30 * SEC - Duration::from_nanos(1));
    assert_eq!(s.gateway_count(), 1);
    s.handle_timeout(last + 30 * SEC);
    assert_eq!(
        events(&mut s),
        [Event::GatewayDisconnected { gateway_eui: GW }]
    );
    assert_eq!(s.gateway_count(), 0);
    assert_eq!(s.poll_timeout(), None);
    // Downlinks to it fail at once.
    assert_eq!(
        s.send_downlink(last + 31 * SEC, GW, 1, vec![txpk(868.1)]),
        Err(SendError::GatewayNotConnected(GW))
    );
    events(&mut s);
    // It comes back on the next PULL_DATA.
    s.handle_datagram(last + 40 * SEC, addr(7), &pull_data(2, 1, GW));
    assert!(matches!(
        events(&mut s)[..],
        [Event::GatewayConnected { address, .. }] if address == addr(7)
    ));
    let c = s.counters();
    assert_eq!((c.gateways_connected, c.gateways_disconnected), (2, 1));
}

#[test]
fn gateway_first_seen_by_push_data_times_out_without_pull_data() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(1), &push_data(1, GW, RXPK));
    events(&mut s);
    assert_eq!(s.gateway(GW).unwrap().pull_address, None);
    // No PULL_DATA yet: no downlink path.
    assert_eq!(
        s.send_downlink(t0, GW, 1, vec![txpk(868.1)]),
        Err(SendError::GatewayNotConnected(GW))
    );
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 1,
            statuses: vec![TxStatus::GatewayNotConnected]
        }]
    );
    s.handle_timeout(t0 + 60 * SEC);
    assert_eq!(
        events(&mut s),
        [Event::GatewayDisconnected { gateway_eui: GW }]
    );
}

#[test]
fn unknown_gateway_downlink_fails_at_once() {
    let t0 = Instant::now();
    let mut s = Server::<SocketAddr>::new(Config::default());
    assert_eq!(
        s.send_downlink(t0, GW, 77, vec![txpk(868.1)]),
        Err(SendError::GatewayNotConnected(GW))
    );
    assert_eq!(transmits(&mut s), []);
    assert_eq!(
        events(&mut s),
        [Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 77,
            statuses: vec![TxStatus::GatewayNotConnected]
        }]
    );
    assert_eq!(s.pending_downlinks(), 0);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.counters().downlinks.gateway_not_connected, 1);
}

#[test]
fn empty_downlink_and_token_in_use_are_refused() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    assert_eq!(
        s.send_downlink(t0, GW, 1, Vec::new()),
        Err(SendError::NoItems)
    );
    s.send_downlink(t0, GW, 0x0001_0002, vec![txpk(868.1)])
        .unwrap();
    // Same low 16 bits while the first is pending.
    assert_eq!(
        s.send_downlink(t0, GW, 0x0002_0002, vec![txpk(868.1)]),
        Err(SendError::TokenInUse(2))
    );
    assert_eq!(transmits(&mut s).len(), 1);
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [
            Event::DownlinkAck { downlink_id: 1, statuses: a, .. },
            Event::DownlinkAck { downlink_id: 0x0002_0002, statuses: b, .. },
        ] if a.is_empty() && *b == [TxStatus::TokenInUse]),
        "{ev:?}"
    );
    // The first one is still pending and still resolves.
    s.handle_datagram(t0, addr(1), &tx_ack(2, GW, None));
    assert!(matches!(
        events(&mut s)[..],
        [Event::DownlinkAck {
            downlink_id: 0x0001_0002,
            ..
        }]
    ));
}

#[test]
fn tx_ack_from_unknown_gateway_is_ignored_and_counted() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    s.send_downlink(t0, GW, 4, vec![txpk(868.1)]).unwrap();
    transmits(&mut s);
    let other = Eui64::from_u64(0xffff);
    s.handle_datagram(t0, addr(1), &tx_ack(4, other, None));
    assert_eq!(
        events(&mut s),
        [Event::DatagramError {
            from: addr(1),
            error: DatagramError::UnmatchedTxAck {
                gateway_eui: other,
                token: 4
            }
        }]
    );
    assert_eq!(s.pending_downlinks(), 1);
    assert_eq!(s.gateway_count(), 1);
    assert_eq!(s.counters().errors.unmatched_tx_ack, 1);
    assert_eq!(transmits(&mut s), []);
}

#[test]
fn garbage_datagrams_are_counted_by_kind_and_change_nothing() {
    let t0 = Instant::now();
    let mut s = connected(t0, 2, 1);
    let before = s.gateway(GW);
    let garbage: [(&[u8], &str); 7] = [
        (&[], "truncated"),
        (&[2, 0], "truncated"),
        (&[3, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8], "unknown_version"),
        (&[2, 0, 0, 9], "unknown_identifier"),
        (&[2, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0], "trailing_bytes"),
        (&[2, 0, 0, 4], "unexpected_identifier"),
        (&[2, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, b'{'], "json"),
    ];
    for (bytes, kind) in garbage {
        s.handle_datagram(t0 + SEC, addr(666), bytes);
        let ev = events(&mut s);
        let [Event::DatagramError { from, error }] = &ev[..] else {
            panic!("{bytes:?}: {ev:?}")
        };
        assert_eq!((*from, error.kind()), (addr(666), kind), "{bytes:?}");
    }
    assert_eq!(transmits(&mut s), [], "garbage is never answered");
    assert_eq!(s.gateway(GW), before);
    assert_eq!(s.gateway_count(), 1);
    let e = s.counters().errors;
    assert_eq!(
        (
            e.truncated,
            e.unknown_version,
            e.unknown_identifier,
            e.trailing_bytes,
            e.unexpected_identifier,
            e.json,
            e.total()
        ),
        (2, 1, 1, 1, 1, 1, 7)
    );
    // Only datagrams whose header could be read are counted by type.
    assert_eq!(s.counters().datagrams_in.pull_data, 2);
    assert_eq!(s.counters().datagrams_in.pull_ack, 1);
}

#[test]
fn many_gateways_share_one_server() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    let n = 200u16;
    let eui = |i: u16| Eui64::from_u64(0xaa00_0000_0000_0000 | u64::from(i));
    // Half of them behind one NAT address, told apart by EUI only.
    let from = |i: u16| {
        if i.is_multiple_of(2) {
            addr(1700)
        } else {
            addr(10_000 + i)
        }
    };
    for i in 0..n {
        s.handle_datagram(t0, from(i), &pull_data(2, i, eui(i)));
    }
    assert_eq!(s.gateway_count(), usize::from(n));
    assert_eq!(transmits(&mut s).len(), usize::from(n));
    assert_eq!(events(&mut s).len(), usize::from(n));
    for i in 0..n {
        s.send_downlink(t0, eui(i), u32::from(i), vec![txpk(868.1), txpk(869.525)])
            .unwrap();
    }
    let tx = transmits(&mut s);
    for (i, t) in (0..n).zip(&tx) {
        assert_eq!(t.destination, from(i));
        assert_eq!(pull_resp(t).token, i);
    }
    // Odd gateways reject RX1 and accept RX2; even ones accept RX1.
    for i in 0..n {
        let err = (i % 2 == 1).then_some(TxAckError::TooLate);
        s.handle_datagram(t0, addr(1), &tx_ack(i, eui(i), err));
    }
    for i in (1..n).step_by(2) {
        s.handle_datagram(t0, addr(1), &tx_ack(i, eui(i), None));
    }
    let acks = events(&mut s);
    assert_eq!(acks.len(), usize::from(n));
    for ev in acks {
        let Event::DownlinkAck {
            gateway_eui,
            downlink_id,
            statuses,
        } = ev
        else {
            panic!("{ev:?}")
        };
        assert_eq!(gateway_eui, eui(downlink_id as u16));
        assert_eq!(statuses.len(), 1 + downlink_id as usize % 2);
        assert_eq!(statuses.last(), Some(&TxStatus::Accepted));
    }
    assert_eq!(s.pending_downlinks(), 0);
    // One gateway keeps sending PULL_DATA; all others go offline.
    s.handle_datagram(t0 + 30 * SEC, addr(5), &pull_data(2, 0, eui(5)));
    s.handle_timeout(t0 + 60 * SEC);
    assert_eq!(events(&mut s).len(), usize::from(n) - 1);
    assert_eq!(s.gateway_count(), 1);
    assert!(s.gateway(eui(5)).is_some());
    assert_eq!(s.poll_timeout(), Some(t0 + 90 * SEC));
}

#[test]
fn counters_count_datagrams_in_and_out_by_type() {
    let t0 = Instant::now();
    let mut s = Server::new(Config::default());
    s.handle_datagram(t0, addr(1), &pull_data(2, 1, GW));
    s.handle_datagram(t0, addr(1), &push_data(1, GW, RXPK));
    s.send_downlink(t0, GW, 1, vec![txpk(868.1)]).unwrap();
    s.handle_datagram(t0, addr(1), &tx_ack(1, GW, None));
    let c = s.counters();
    assert_eq!(
        (
            c.datagrams_in.pull_data,
            c.datagrams_in.push_data,
            c.datagrams_in.tx_ack
        ),
        (1, 1, 1)
    );
    assert_eq!(
        (
            c.datagrams_out.pull_ack,
            c.datagrams_out.push_ack,
            c.datagrams_out.pull_resp
        ),
        (1, 1, 1)
    );
    assert_eq!(c.datagrams_in.get(Identifier::TxAck), 1);
    assert_eq!((c.datagrams_in.total(), c.datagrams_out.total()), (3, 3));
    assert_eq!(
        (
            c.downlinks.requested,
            c.downlinks.accepted,
            c.downlinks.acks
        ),
        (1, 1, 1)
    );
}

/// One exchange over real UDP sockets on loopback, with the server driven by
/// a plain std loop (no async runtime).
#[test]
fn real_udp_sockets_on_loopback() {
    let server_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let gateway = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&server_socket, &gateway] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let server_addr = server_socket.local_addr().unwrap();
    let mut server = Server::new(Config::default());
    let mut buf = [0u8; 65_535];
    let mut step = |server: &mut Server<SocketAddr>| {
        let (n, from) = server_socket.recv_from(&mut buf).unwrap();
        server.handle_datagram(Instant::now(), from, &buf[..n]);
        while let Some(t) = server.poll_transmit() {
            server_socket.send_to(&t.bytes, t.destination).unwrap();
        }
    };
    let mut reply = [0u8; 1024];

    gateway
        .send_to(&pull_data(2, 0x0102, GW), server_addr)
        .unwrap();
    step(&mut server);
    let n = gateway.recv(&mut reply).unwrap();
    assert_eq!(reply[..n], [2, 1, 2, 4]);

    gateway
        .send_to(&push_data(0x0304, GW, RXPK), server_addr)
        .unwrap();
    step(&mut server);
    let n = gateway.recv(&mut reply).unwrap();
    assert_eq!(reply[..n], [2, 3, 4, 1]);
    let ev: Vec<_> = std::iter::from_fn(|| server.poll_event()).collect();
    assert!(matches!(
        ev[..],
        [Event::GatewayConnected { .. }, Event::Uplink { .. }]
    ));

    server
        .send_downlink(Instant::now(), GW, 0xbeef, vec![txpk(868.1)])
        .unwrap();
    let t = server.poll_transmit().unwrap();
    assert_eq!(t.destination, gateway.local_addr().unwrap());
    server_socket.send_to(&t.bytes, t.destination).unwrap();
    let n = gateway.recv(&mut reply).unwrap();
    let resp = PullResp::parse(&reply[..n]).unwrap();
    assert_eq!(resp.token, 0xbeef);
    gateway
        .send_to(&tx_ack(resp.token, GW, None), server_addr)
        .unwrap();
    step(&mut server);
    assert_eq!(
        server.poll_event(),
        Some(Event::DownlinkAck {
            gateway_eui: GW,
            downlink_id: 0xbeef,
            statuses: vec![TxStatus::Accepted]
        })
    );
}

#[test]
fn gateways_beyond_the_limit_are_refused_and_change_nothing() {
    let t0 = Instant::now();
    let mut config = Config::default();
    config.max_gateways = 2;
    let mut s = Server::new(config);
    for (i, eui) in [1u64, 2, 3].into_iter().enumerate() {
        s.handle_datagram(
            t0,
            addr(2000 + i as u16),
            &pull_data(2, 1, Eui64::from_u64(eui)),
        );
    }
    assert_eq!(s.gateway_count(), 2);
    assert!(s.gateway(Eui64::from_u64(3)).is_none());
    let refused = events(&mut s).into_iter().any(|e| {
        matches!(e, Event::DatagramError { error: DatagramError::TooManyGateways { gateway_eui }, .. } if gateway_eui == Eui64::from_u64(3))
    });
    assert!(refused);
    assert_eq!(s.counters().errors.too_many_gateways, 1);
    // The third gateway's PUSH_DATA is still acknowledged (the ack needs only the
    // header) but yields no uplink.
    transmits(&mut s);
    s.handle_datagram(
        t0,
        addr(2002),
        &push_data(9, Eui64::from_u64(3), r#"{"rxpk":[]}"#),
    );
    assert_eq!(transmits(&mut s).len(), 1);
    assert!(
        events(&mut s)
            .iter()
            .all(|e| matches!(e, Event::DatagramError { .. }))
    );
    assert_eq!(s.gateway_count(), 2);
}
