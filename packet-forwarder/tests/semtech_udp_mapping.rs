//! GWMP ↔ `gw` mapping, with the values of chirpstack-mqtt-forwarder's
//! `structs.rs` tests and chirpstack-gateway-bridge's `push_data_test.go`,
//! `pull_resp_test.go` and `tx_ack_test.go`, plus the cases where ChirpStack
//! is wrong (FSK, CR_LI_4_8, 5/6, negative power, per-frame uplink ids).

use std::collections::HashMap;

use lorawan::Eui64;
use packet_forwarder::gw::{self, CodeRate, TxAckStatus, common, modulation::Parameters as M};
use packet_forwarder::semtech_udp::mapping::{
    self, DownlinkError, GatewayDataError, UplinkContext,
};
use packet_forwarder::semtech_udp::{CodingRate, DataRate, RxPk, Stat, TxAck, TxModulation, TxPk};

const GATEWAY: &str = "0102030405060708";

fn eui() -> Eui64 {
    GATEWAY.parse().unwrap()
}

fn rxpk(json: &str) -> RxPk {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

/// Maps with uplink ids 1, 2, 3, …
fn frames(ctx: &UplinkContext, json: &str) -> Vec<gw::UplinkFrame> {
    let mut id = 0;
    mapping::uplink_frames(ctx, &rxpk(json), || {
        id += 1;
        id
    })
    .unwrap()
}

fn one(json: &str) -> gw::UplinkFrame {
    let mut f = frames(&UplinkContext::new(eui()), json);
    assert_eq!(f.len(), 1);
    f.remove(0)
}

fn lora(sf: u32, bw: u32, cr: CodeRate) -> gw::Modulation {
    gw::Modulation {
        parameters: Some(M::Lora(gw::LoraModulationInfo {
            bandwidth: bw,
            spreading_factor: sf,
            code_rate: cr.into(),
            ..Default::default()
        })),
    }
}

/// The mqtt-forwarder's base rxpk: tmst 1234, 868.1 MHz, chan 5, rfch 1,
/// brd 3, SF7BW125 4/5, rssi 120, lsnr 3.5, data 04030201.
fn base_rx_info() -> gw::UplinkRxInfo {
    gw::UplinkRxInfo {
        gateway_id: GATEWAY.into(),
        uplink_id: 1,
        rssi: 120,
        snr: 3.5,
        channel: 5,
        rf_chain: 1,
        board: 3,
        context: vec![0, 0, 4, 210],
        crc_status: gw::CrcStatus::CrcOk.into(),
        ..Default::default()
    }
}

const BASE: &str = r#""tmst":1234,"freq":868.1,"chan":5,"rfch":1,"brd":3,"stat":1,
    "rssi":120,"size":4,"data":"BAMCAQ==""#;

#[test]
fn lora_uplink_maps_as_chirpstack_does() {
    let f = one(&format!(
        r#"{{{BASE},"time":"2023-05-01T10:11:12.123456Z","modu":"LORA","datr":"SF7BW125",
            "codr":"4/5","lsnr":3.5}}"#
    ));
    assert_eq!(f.phy_payload, [4, 3, 2, 1]);
    assert_eq!(
        f.tx_info,
        Some(gw::UplinkTxInfo {
            frequency: 868_100_000,
            modulation: Some(lora(7, 125_000, CodeRate::Cr45)),
        })
    );
    assert_eq!(
        f.rx_info,
        Some(gw::UplinkRxInfo {
            gw_time: Some(gw::Timestamp {
                seconds: 1_682_935_872,
                nanos: 123_456_000
            }),
            ..base_rx_info()
        })
    );
}

#[test]
fn uplink_time_fields_table() {
    // (tmms, ftime, time_since_gps_epoch, fine_time_since_gps_epoch)
    let cases = [
        // mqtt-forwarder test_uplink_frame_lora_gps_time: tmms 5000 → 5 s.
        (Some(5_000), None, Some((5, 0)), None),
        // ..._gps_and_fine_timestamp: tmms 5100, ftime 3 ms → 5.1 s, fine 5.003 s.
        (
            Some(5_100),
            Some(3_000_000),
            Some((5, 100_000_000)),
            Some((5, 3_000_000)),
        ),
        // gateway-bridge "uplink with gps time": tmms 10 min.
        (Some(600_000), None, Some((600, 0)), None),
        // ftime without tmms: no GPS second to attach it to.
        (None, Some(3_000_000), None, None),
        // ftime beyond one second is invalid and dropped.
        (
            Some(5_100),
            Some(1_000_000_000),
            Some((5, 100_000_000)),
            None,
        ),
    ];
    for (tmms, ftime, gps, fine) in cases {
        let mut json = format!(r#"{{{BASE},"modu":"LORA","datr":"SF7BW125","codr":"4/5""#);
        if let Some(t) = tmms {
            json += &format!(r#","tmms":{t}"#);
        }
        if let Some(t) = ftime {
            json += &format!(r#","ftime":{t}"#);
        }
        json += "}";
        let rx = one(&json).rx_info.unwrap();
        let d = |v: Option<(i64, i32)>| v.map(|(seconds, nanos)| gw::Duration { seconds, nanos });
        assert_eq!(rx.time_since_gps_epoch, d(gps), "{json}");
        assert_eq!(rx.fine_time_since_gps_epoch, d(fine), "{json}");
        assert_eq!(rx.gw_time, None);
    }
}

#[test]
fn time_fallback_only_fills_a_missing_time() {
    let mut ctx = UplinkContext::new(eui());
    let now = gw::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    ctx.fallback_time = Some(now);
    let json = format!(r#"{{{BASE},"modu":"LORA","datr":"SF7BW125","codr":"4/5"}}"#);
    let rx = frames(&ctx, &json).remove(0).rx_info.unwrap();
    assert_eq!(rx.gw_time, Some(now));
    let json = format!(
        r#"{{{BASE},"time":"2013-03-31T16:21:17.528002Z","modu":"LORA","datr":"SF7BW125"}}"#
    );
    let rx = frames(&ctx, &json).remove(0).rx_info.unwrap();
    assert_eq!(
        rx.gw_time,
        Some(gw::Timestamp {
            seconds: 1_364_746_877,
            nanos: 528_002_000
        })
    );
}

#[test]
fn rsig_gives_one_frame_per_antenna_each_with_its_own_uplink_id() {
    // mqtt-forwarder test_uplink_frame_lora_rsig.
    let f = frames(
        &UplinkContext::new(eui()),
        r#"{"tmst":1234,"freq":868.1,"chan":0,"rfch":1,"brd":3,"stat":1,"modu":"LORA",
            "datr":"SF7BW125","codr":"4/5","size":4,"data":"BAMCAQ==","jver":2,
            "rsig":[{"ant":1,"chan":5,"rssic":120,"lsnr":5.4},
                    {"ant":2,"chan":6,"rssic":130,"lsnr":3.5}]}"#,
    );
    let rx: Vec<_> = f.iter().map(|f| f.rx_info.clone().unwrap()).collect();
    assert_eq!(
        rx,
        [
            gw::UplinkRxInfo {
                uplink_id: 1,
                antenna: 1,
                channel: 5,
                rssi: 120,
                snr: 5.4,
                ..base_rx_info()
            },
            gw::UplinkRxInfo {
                uplink_id: 2,
                antenna: 2,
                channel: 6,
                rssi: 130,
                snr: 3.5,
                ..base_rx_info()
            },
        ]
    );
    for f in &f {
        assert_eq!(
            f.tx_info.as_ref().unwrap().modulation,
            Some(lora(7, 125_000, CodeRate::Cr45))
        );
        assert_eq!(f.phy_payload, [4, 3, 2, 1]);
    }
}

#[test]
fn gateway_bridge_multi_antenna_values() {
    // push_data_test.go "uplink with multiple antennas": tmst 1000000 →
    // context 000f4240, SF12BW500, two antennas 8/9 on channels 9/10.
    let f = frames(
        &UplinkContext::new(eui()),
        r#"{"time":"2020-01-01T00:00:00Z","tmms":600000,"tmst":1000000,"freq":868.3,"aesk":7,
            "brd":2,"chan":1,"rfch":3,"stat":1,"modu":"LORA","datr":"SF12BW500","codr":"4/5",
            "rssi":-60,"lsnr":5.5,"size":5,"data":"AQIDBAU=",
            "rsig":[{"ant":8,"chan":9,"lsnr":6.6,"etime":"AgMEBQ==","rssic":-70},
                    {"ant":9,"chan":10,"lsnr":7.7,"rssic":-80}]}"#,
    );
    assert_eq!(f.len(), 2);
    for (f, (ant, chan, rssi, snr)) in f.iter().zip([(8, 9, -70, 6.6), (9, 10, -80, 7.7)]) {
        let rx = f.rx_info.as_ref().unwrap();
        assert_eq!(
            (rx.antenna, rx.channel, rx.rssi, rx.snr),
            (ant, chan, rssi, snr)
        );
        assert_eq!((rx.rf_chain, rx.board), (3, 2));
        assert_eq!(rx.context, [0x00, 0x0f, 0x42, 0x40]);
        assert_eq!(
            rx.time_since_gps_epoch,
            Some(gw::Duration {
                seconds: 600,
                nanos: 0
            })
        );
        assert_eq!(f.tx_info.as_ref().unwrap().frequency, 868_300_000);
        assert_eq!(
            f.tx_info.as_ref().unwrap().modulation,
            Some(lora(12, 500_000, CodeRate::Cr45))
        );
    }
    assert_ne!(
        f[0].rx_info.as_ref().unwrap().uplink_id,
        f[1].rx_info.as_ref().unwrap().uplink_id
    );
}

#[test]
fn uplink_ids_are_per_frame_not_per_datagram() {
    // ChirpStack's Go bridge gives every rxpk of a datagram its 16-bit token.
    let ctx = UplinkContext::new(eui());
    let mut ids = Vec::new();
    let mut next = 0xfff0_0000_u32;
    for _ in 0..3 {
        let json = format!(r#"{{{BASE},"modu":"LORA","datr":"SF7BW125","codr":"4/5"}}"#);
        for f in mapping::uplink_frames(&ctx, &rxpk(&json), || {
            next += 1;
            next
        })
        .unwrap()
        {
            ids.push(f.rx_info.unwrap().uplink_id);
        }
    }
    assert_eq!(ids, [0xfff0_0001, 0xfff0_0002, 0xfff0_0003]);
}

#[test]
fn fsk_uplink_maps_to_fsk_modulation() {
    // mqtt-forwarder test_uplink_frame_fsk, with the "FSK" the protocol writes
    // (ChirpStack's Rust forwarder only reads "Fsk").
    let f = one(&format!(r#"{{{BASE},"modu":"FSK","datr":50000}}"#));
    assert_eq!(
        f.tx_info.unwrap().modulation,
        Some(gw::Modulation {
            parameters: Some(M::Fsk(gw::FskModulationInfo {
                datarate: 50_000,
                frequency_deviation: 0,
            })),
        })
    );
    assert_eq!(
        f.rx_info,
        Some(gw::UplinkRxInfo {
            snr: 0.0,
            ..base_rx_info()
        })
    );
}

#[test]
fn lr_fhss_uplink_maps_ocw_code_rate_and_grid_steps() {
    // mqtt-forwarder test_uplink_frame_lr_fhss: M0CW137, codr 2/3 (CR_4_6), hpw 8.
    let cases = [
        ("M0CW137", "2/3", Some(8), 137_000, CodeRate::Cr46, 8),
        ("M0CW336", "1/3", Some(52), 336_000, CodeRate::Cr26, 52),
        ("M0CW1523", "5/6", None, 1_523_000, CodeRate::Cr56, 0),
        ("M0CW137", "1/2", None, 137_000, CodeRate::Cr48, 0),
    ];
    for (datr, codr, hpw, ocw, cr, steps) in cases {
        let hpw = hpw.map(|h| format!(r#","hpw":{h}"#)).unwrap_or_default();
        let f = one(&format!(
            r#"{{{BASE},"modu":"LR-FHSS","datr":"{datr}","codr":"{codr}"{hpw}}}"#
        ));
        assert_eq!(
            f.tx_info.unwrap().modulation,
            Some(gw::Modulation {
                parameters: Some(M::LrFhss(gw::LrFhssModulationInfo {
                    operating_channel_width: ocw,
                    code_rate: cr.into(),
                    grid_steps: steps,
                    ..Default::default()
                })),
            }),
            "{datr} {codr}"
        );
    }
}

#[test]
fn codr_table_including_2g4_long_interleaver_rates() {
    let cases = [
        ("4/5", CodeRate::Cr45),
        ("4/6", CodeRate::Cr46),
        ("2/3", CodeRate::Cr46),
        ("4/7", CodeRate::Cr47),
        ("4/8", CodeRate::Cr48),
        ("2/4", CodeRate::Cr48),
        ("1/2", CodeRate::Cr48),
        ("3/8", CodeRate::Cr38),
        ("2/6", CodeRate::Cr26),
        ("1/3", CodeRate::Cr26),
        ("1/4", CodeRate::Cr14),
        ("1/6", CodeRate::Cr16),
        // ChirpStack's forwarder maps 5/6 to CR_4_5.
        ("5/6", CodeRate::Cr56),
        ("4/5LI", CodeRate::CrLi45),
        ("4/6LI", CodeRate::CrLi46),
        // ChirpStack's forwarder writes CR_LI_4_8 as "4/5LI".
        ("4/8LI", CodeRate::CrLi48),
        ("OFF", CodeRate::CrUndefined),
    ];
    for (codr, cr) in cases {
        assert_eq!(mapping::code_rate(&CodingRate::parse(codr)), cr, "{codr}");
    }
}

#[test]
fn ism2400_uplink() {
    let f = one(
        r#"{"tmst":3512348611,"freq":2425.0,"chan":0,"rfch":0,"stat":1,"modu":"LORA",
            "datr":"SF12BW812","codr":"4/8LI","rssi":-90,"lsnr":-2.5,"size":2,"data":"AAE="}"#,
    );
    assert_eq!(
        f.tx_info,
        Some(gw::UplinkTxInfo {
            frequency: 2_425_000_000,
            modulation: Some(lora(12, 812_500, CodeRate::CrLi48)),
        })
    );
    let rx = f.rx_info.unwrap();
    assert_eq!(rx.context, 3_512_348_611_u32.to_be_bytes());
    assert_eq!((rx.rssi, rx.snr), (-90, -2.5));
}

#[test]
fn crc_status_table() {
    for (stat, status) in [
        (1, gw::CrcStatus::CrcOk),
        (-1, gw::CrcStatus::BadCrc),
        (0, gw::CrcStatus::NoCrc),
    ] {
        let json = format!(
            r#"{{"tmst":1,"freq":868.1,"stat":{stat},"modu":"LORA","datr":"SF7BW125","size":0,"data":""}}"#
        );
        assert_eq!(
            one(&json).rx_info.unwrap().crc_status(),
            status,
            "stat {stat}"
        );
    }
}

#[test]
fn meta_location_and_signal_rssi_fallback() {
    // mqtt-forwarder test_uplink_frame_lora_with_meta.
    let mut ctx = UplinkContext::new(eui());
    let loc = common::Location {
        latitude: 1.1,
        longitude: 2.2,
        altitude: 3.0,
        source: common::LocationSource::Config.into(),
        ..Default::default()
    };
    ctx.location = Some(loc);
    let rx = frames(
        &ctx,
        r#"{"tmst":1234,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","rssis":-97,
            "ant":1,"size":0,"data":"","meta":{"gateway_name":"test-gateway"}}"#,
    )
    .remove(0)
    .rx_info
    .unwrap();
    assert_eq!(
        rx.metadata,
        HashMap::from([("gateway_name".to_string(), "test-gateway".to_string())])
    );
    assert_eq!(rx.location, Some(loc));
    assert_eq!((rx.rssi, rx.antenna), (-97, 1));
}

#[test]
fn frequency_is_rounded_to_the_hz() {
    // Truncating `freq * 1e6` (as ChirpStack does) loses a Hz on some values
    // (none in the LoRaWAN bands, but e.g. 128.02639 MHz → 128 026 389 Hz).
    for (mhz, hz) in [
        ("868.1", 868_100_000),
        ("867.9", 867_900_000),
        ("902.3", 902_300_000),
        ("866.349812", 866_349_812),
        ("923.2", 923_200_000),
        ("470.3", 470_300_000),
        ("128.02639", 128_026_390),
        ("2425.000001", 2_425_000_001),
    ] {
        let f = one(&format!(
            r#"{{"tmst":1,"freq":{mhz},"stat":1,"modu":"LORA","datr":"SF7BW125","size":0,"data":""}}"#
        ));
        assert_eq!(f.tx_info.unwrap().frequency, hz, "{mhz}");
    }
}

#[test]
fn unusable_rxpk_is_an_error_naming_the_field() {
    let ctx = UplinkContext::new(eui());
    let cases = [
        (
            r#"{"tmst":1,"freq":-1,"stat":1,"modu":"LORA","datr":"SF7BW125","size":0,"data":""}"#,
            GatewayDataError::Frequency(-1.0),
        ),
        (
            r#"{"tmst":1,"freq":868.1,"stat":1,"modu":"FSK","datr":"SF7BW125","size":0,"data":""}"#,
            GatewayDataError::ModulationMismatch {
                modu: packet_forwarder::semtech_udp::RxModulation::Fsk,
                datr: "SF7BW125".into(),
            },
        ),
        (
            r#"{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","size":0,"data":"",
                "time":"yesterday"}"#,
            GatewayDataError::Time("yesterday".into()),
        ),
    ];
    for (json, err) in cases {
        assert_eq!(mapping::uplink_frames(&ctx, &rxpk(json), || 0), Err(err));
    }
}

fn stat(json: &str) -> Stat {
    serde_json::from_str(json).unwrap()
}

#[test]
fn stats_table_from_chirpstack_tests() {
    let time = Some(gw::Timestamp {
        seconds: 1_389_517_168,
        nanos: 0,
    });
    let gps = |lat, lon, alt| {
        Some(common::Location {
            latitude: lat,
            longitude: lon,
            altitude: alt,
            source: common::LocationSource::Gps.into(),
            ..Default::default()
        })
    };
    // (stat JSON, location, metadata): mqtt-forwarder's no-location,
    // location and meta cases (rxnb 10, rxok 5, dwnb 30, txnb 15), the Go
    // bridge's lati 1.123 / long 2.123 / alti 33 case.
    let counters = r#""time":"2014-01-12 08:59:28 GMT","rxnb":10,"rxok":5,"rxfw":5,"ackr":99.9,
        "dwnb":30,"txnb":15"#;
    let cases = [
        (format!("{{{counters}}}"), None, vec![]),
        (
            format!(r#"{{{counters},"lati":0,"long":0,"alti":0}}"#),
            None,
            vec![],
        ),
        (
            format!(r#"{{{counters},"lati":1.1,"long":2.2,"alti":3}}"#),
            gps(1.1, 2.2, 3.0),
            vec![],
        ),
        (
            format!(r#"{{{counters},"lati":1.123,"long":2.123,"alti":33}}"#),
            gps(1.123, 2.123, 33.0),
            vec![],
        ),
        (
            format!(r#"{{{counters},"meta":{{"gateway_name":"test-gateway"}}}}"#),
            None,
            vec![("gateway_name".to_string(), "test-gateway".to_string())],
        ),
    ];
    for (json, location, metadata) in cases {
        let s = mapping::gateway_stats(eui(), &stat(&json), None).unwrap();
        assert_eq!(
            s,
            gw::GatewayStats {
                gateway_id: GATEWAY.into(),
                time,
                location,
                rx_packets_received: 10,
                rx_packets_received_ok: 5,
                tx_packets_received: 30,
                tx_packets_emitted: 15,
                metadata: metadata.into_iter().collect(),
                ..Default::default()
            },
            "{json}"
        );
    }
}

#[test]
fn stats_use_the_configured_location_when_the_gateway_has_no_gps() {
    let configured = common::Location {
        latitude: 52.0,
        longitude: 4.0,
        source: common::LocationSource::Config.into(),
        ..Default::default()
    };
    let s = mapping::gateway_stats(eui(), &stat(r#"{"rxnb":1,"temp":41.5}"#), Some(&configured))
        .unwrap();
    assert_eq!(s.location, Some(configured));
    assert_eq!(s.time, None);
    assert!(s.metadata.is_empty());
    let s = mapping::gateway_stats(
        eui(),
        &stat(r#"{"lati":1.5,"long":2.5,"alti":3}"#),
        Some(&configured),
    )
    .unwrap();
    assert_eq!(
        s.location.unwrap().source(),
        common::LocationSource::Gps,
        "the gateway's own GPS wins"
    );
    assert_eq!(
        mapping::gateway_stats(eui(), &stat(r#"{"time":"2014-13-12 08:59:28 GMT"}"#), None),
        Err(GatewayDataError::Time("2014-13-12 08:59:28 GMT".into()))
    );
}

// ---------------------------------------------------------------- downlink

fn item(modulation: M, timing: gw::timing::Parameters, context: &[u8]) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: vec![1, 2, 3, 4],
        tx_info: Some(gw::DownlinkTxInfo {
            frequency: 868_100_000,
            power: 16,
            modulation: Some(gw::Modulation {
                parameters: Some(modulation),
            }),
            board: 1,
            antenna: 2,
            timing: Some(gw::Timing {
                parameters: Some(timing),
            }),
            context: context.to_vec(),
        }),
        ..Default::default()
    }
}

fn lora_dn(sf: u32, bw: u32) -> M {
    M::Lora(gw::LoraModulationInfo {
        bandwidth: bw,
        spreading_factor: sf,
        code_rate: CodeRate::Cr45.into(),
        polarization_inversion: true,
        ..Default::default()
    })
}

fn delay(seconds: i64) -> gw::timing::Parameters {
    gw::timing::Parameters::Delay(gw::DelayTimingInfo {
        delay: Some(gw::Duration { seconds, nanos: 0 }),
    })
}

fn gps_epoch(seconds: i64, nanos: i32) -> gw::timing::Parameters {
    gw::timing::Parameters::GpsEpoch(gw::GpsEpochTimingInfo {
        time_since_gps_epoch: Some(gw::Duration { seconds, nanos }),
    })
}

fn immediately() -> gw::timing::Parameters {
    gw::timing::Parameters::Immediately(gw::ImmediatelyTimingInfo {})
}

fn expected_lora(sf: u8, bw: u32) -> TxPk {
    TxPk {
        imme: false,
        tmst: None,
        tmms: None,
        freq: 868.1,
        rfch: 0,
        powe: Some(16),
        modu: TxModulation::Lora,
        datr: DataRate::Lora {
            spreading_factor: sf,
            bandwidth: bw,
        },
        codr: Some(CodingRate::parse("4/5")),
        fdev: None,
        ipol: true,
        prea: None,
        size: 4,
        data: vec![1, 2, 3, 4],
        ncrc: false,
        nhdr: false,
        brd: Some(1),
        ant: Some(2),
    }
}

#[test]
fn downlink_timing_table() {
    let cases = [
        // mqtt-forwarder test_downlink_lora_delay: context 00000001 + 1 s.
        (delay(1), vec![0, 0, 0, 1], (false, Some(1_000_001), None)),
        // Go bridge "delay timing - lora": context 000f4240 + 1 s = 2000000.
        (
            delay(1),
            vec![0x00, 0x0f, 0x42, 0x40],
            (false, Some(2_000_000), None),
        ),
        // The counter wraps; ChirpStack's u32 `+=` overflows.
        (
            delay(5),
            vec![0xff, 0xff, 0xff, 0xff],
            (false, Some(4_999_999), None),
        ),
        // A 16-byte (Basics Station-style) context: the first 4 bytes count.
        (
            delay(1),
            [0, 0, 0, 1].repeat(4),
            (false, Some(1_000_001), None),
        ),
        // test_downlink_lora_gps_time / Go "gps epoch": 5 s → tmms 5000.
        (
            gps_epoch(5, 0),
            vec![0, 0, 0, 1],
            (false, None, Some(5_000)),
        ),
        (
            gps_epoch(1_300_000_000, 123_456_789),
            vec![],
            (false, None, Some(1_300_000_000_123)),
        ),
        // test_downlink_lora_immediately.
        (immediately(), vec![0, 0, 0, 1], (true, None, None)),
        (immediately(), vec![], (true, None, None)),
    ];
    for (timing, context, (imme, tmst, tmms)) in cases {
        let tx = mapping::txpk(&item(lora_dn(7, 125_000), timing, &context)).unwrap();
        assert_eq!(
            tx,
            TxPk {
                imme,
                tmst,
                tmms,
                ..expected_lora(7, 125_000)
            },
            "{timing:?} {context:?}"
        );
    }
}

#[test]
fn go_bridge_pull_resp_json_values() {
    let mut it = item(lora_dn(12, 125_000), delay(1), &[0x00, 0x0f, 0x42, 0x40]);
    it.tx_info.as_mut().unwrap().power = 14;
    let json = serde_json::to_value(mapping::txpk(&it).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"tmst":2_000_000,"freq":868.1,"rfch":0,"powe":14,"modu":"LORA",
            "datr":"SF12BW125","codr":"4/5","ipol":true,"size":4,"data":"AQIDBA==","brd":1,"ant":2})
    );
}

#[test]
fn fsk_downlink_is_upper_case_fsk_with_fdev() {
    // mqtt-forwarder test_downlink_fsk_delay / Go "delay timing - fsk".
    let fsk = |frequency_deviation| {
        M::Fsk(gw::FskModulationInfo {
            datarate: 50_000,
            frequency_deviation,
        })
    };
    for (fdev_in, fdev_out) in [(25_000, 25_000), (0, 25_000), (3_000, 3_000)] {
        let tx = mapping::txpk(&item(fsk(fdev_in), delay(1), &[0, 0, 0, 1])).unwrap();
        assert_eq!(
            tx,
            TxPk {
                tmst: Some(1_000_001),
                modu: TxModulation::Fsk,
                datr: DataRate::Fsk { bitrate: 50_000 },
                codr: None,
                fdev: Some(fdev_out),
                ipol: false,
                ..expected_lora(7, 125_000)
            }
        );
        let json = serde_json::to_string(&tx).unwrap();
        assert!(json.contains(r#""modu":"FSK""#), "{json}");
        assert!(json.contains(r#""datr":50000"#), "{json}");
    }
}

#[test]
fn negative_power_preamble_no_crc_and_2g4_code_rates_reach_the_txpk() {
    let mut it = item(
        M::Lora(gw::LoraModulationInfo {
            bandwidth: 812_500,
            spreading_factor: 12,
            code_rate: CodeRate::CrLi48.into(),
            polarization_inversion: true,
            preamble: 12,
            no_crc: true,
            ..Default::default()
        }),
        immediately(),
        &[],
    );
    let tx_info = it.tx_info.as_mut().unwrap();
    tx_info.power = -3;
    tx_info.frequency = 2_425_000_000;
    let tx = mapping::txpk(&it).unwrap();
    assert_eq!(tx.powe, Some(-3));
    assert_eq!(tx.freq, 2425.0);
    assert_eq!(tx.prea, Some(12));
    assert!(tx.ncrc);
    let json = serde_json::to_string(&tx).unwrap();
    for key in [
        r#""powe":-3"#,
        r#""codr":"4/8LI""#,
        r#""datr":"SF12BW812""#,
        r#""prea":12"#,
    ] {
        assert!(json.contains(key), "{key} in {json}");
    }
}

#[test]
fn lora_downlink_code_rate_table() {
    let cases = [
        (CodeRate::Cr45, "", Ok("4/5")),
        (CodeRate::Cr46, "", Ok("4/6")),
        (CodeRate::Cr47, "", Ok("4/7")),
        (CodeRate::Cr48, "", Ok("4/8")),
        (CodeRate::CrLi45, "", Ok("4/5LI")),
        (CodeRate::CrLi46, "", Ok("4/6LI")),
        (CodeRate::CrLi48, "", Ok("4/8LI")),
        (CodeRate::CrUndefined, "", Ok("4/5")),
        (CodeRate::CrUndefined, "4/7", Ok("4/7")),
        (CodeRate::Cr38, "", Err(DownlinkError::CodeRate(5))),
        (CodeRate::Cr26, "", Err(DownlinkError::CodeRate(6))),
    ];
    for (cr, legacy, want) in cases {
        let it = item(
            M::Lora(gw::LoraModulationInfo {
                bandwidth: 125_000,
                spreading_factor: 7,
                code_rate: cr.into(),
                code_rate_legacy: legacy.into(),
                ..Default::default()
            }),
            immediately(),
            &[],
        );
        let got = mapping::txpk(&it).map(|tx| tx.codr.unwrap().as_str().to_string());
        assert_eq!(got, want.map(String::from), "{cr:?} {legacy:?}");
    }
}

#[test]
fn unusable_downlinks_are_clear_errors() {
    let lr_fhss = M::LrFhss(gw::LrFhssModulationInfo {
        operating_channel_width: 137_000,
        code_rate: CodeRate::Cr26.into(),
        ..Default::default()
    });
    let mut no_tx_info = item(lora_dn(7, 125_000), immediately(), &[]);
    no_tx_info.tx_info = None;
    let mut no_timing = item(lora_dn(7, 125_000), immediately(), &[]);
    no_timing.tx_info.as_mut().unwrap().timing = None;
    let mut no_modulation = item(lora_dn(7, 125_000), immediately(), &[]);
    no_modulation.tx_info.as_mut().unwrap().modulation = None;
    let no_delay = item(
        lora_dn(7, 125_000),
        gw::timing::Parameters::Delay(gw::DelayTimingInfo { delay: None }),
        &[0, 0, 0, 1],
    );
    let cases = [
        (
            item(lora_dn(7, 125_000), delay(1), &[]),
            DownlinkError::ContextTooShort(0),
        ),
        (
            item(lora_dn(7, 125_000), delay(1), &[0, 0, 1]),
            DownlinkError::ContextTooShort(3),
        ),
        (
            item(lora_dn(7, 125_000), delay(-1), &[0, 0, 0, 1]),
            DownlinkError::Duration {
                what: "delay",
                seconds: -1,
                nanos: 0,
            },
        ),
        (
            item(lora_dn(7, 125_000), delay(4_295), &[0, 0, 0, 1]),
            DownlinkError::Duration {
                what: "delay",
                seconds: 4_295,
                nanos: 0,
            },
        ),
        (
            item(lora_dn(7, 125_000), gps_epoch(-5, 0), &[]),
            DownlinkError::Duration {
                what: "time_since_gps_epoch",
                seconds: -5,
                nanos: 0,
            },
        ),
        (
            item(lr_fhss, immediately(), &[]),
            DownlinkError::LrFhssDownlink,
        ),
        (no_tx_info, DownlinkError::Missing("tx_info")),
        (no_timing, DownlinkError::Missing("tx_info.timing")),
        (no_modulation, DownlinkError::Missing("tx_info.modulation")),
        (
            no_delay,
            DownlinkError::Missing("tx_info.timing.delay.delay"),
        ),
    ];
    for (it, err) in cases {
        assert_eq!(mapping::txpk(&it), Err(err.clone()));
        assert!(!err.to_string().is_empty());
    }
    assert!(
        DownlinkError::ContextTooShort(3)
            .to_string()
            .contains("tmst"),
        "the message says what the context is for"
    );
}

// ---------------------------------------------------------------- TX_ACK

fn tx_ack(body: &[u8]) -> TxAck {
    let mut b = vec![2, 123, 0, 5, 8, 7, 6, 5, 4, 3, 2, 1];
    b.extend_from_slice(body);
    TxAck::parse(&b).unwrap()
}

#[test]
fn every_tx_ack_error_maps_to_its_status() {
    let cases: [(&[u8], TxAckStatus); 13] = [
        // tx_ack_test.go: no JSON, and the iBTS single 0 byte.
        (b"", TxAckStatus::Ok),
        (b"\0", TxAckStatus::Ok),
        (br#"{"txpk_ack":{"error":""}}"#, TxAckStatus::Ok),
        (br#"{"txpk_ack":{"error":"NONE"}}"#, TxAckStatus::Ok),
        (br#"{"txpk_ack":{}}"#, TxAckStatus::Ok),
        (
            br#"{"txpk_ack":{"error":"TOO_LATE"}}"#,
            TxAckStatus::TooLate,
        ),
        (
            br#"{"txpk_ack":{"error":"TOO_EARLY"}}"#,
            TxAckStatus::TooEarly,
        ),
        (
            br#"{"txpk_ack":{"error":"COLLISION_PACKET"}}"#,
            TxAckStatus::CollisionPacket,
        ),
        // tx_ack_test.go's COLLISION_BEACON bytes.
        (
            br#"{"txpk_ack":{"error":"COLLISION_BEACON"}}"#,
            TxAckStatus::CollisionBeacon,
        ),
        (br#"{"txpk_ack":{"error":"TX_FREQ"}}"#, TxAckStatus::TxFreq),
        (
            br#"{"txpk_ack":{"error":"TX_POWER"}}"#,
            TxAckStatus::TxPower,
        ),
        (
            br#"{"txpk_ack":{"error":"GPS_UNLOCKED"}}"#,
            TxAckStatus::GpsUnlocked,
        ),
        // The sx1302 forwarder's warning: sent at a lower power.
        (
            br#"{"txpk_ack":{"warn":"TX_POWER","value":14}}"#,
            TxAckStatus::Ok,
        ),
    ];
    for (body, status) in cases {
        assert_eq!(
            mapping::tx_ack_status(&tx_ack(body)),
            status,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn downlink_tx_ack_has_one_item_per_frame_item() {
    let frame = gw::DownlinkFrame {
        downlink_id: 0xdead_beef,
        gateway_id: GATEWAY.into(),
        items: vec![Default::default(); 3],
        ..Default::default()
    };
    let statuses = |ack: gw::DownlinkTxAck| -> Vec<TxAckStatus> {
        assert_eq!(
            (ack.downlink_id, ack.gateway_id.as_str()),
            (0xdead_beef, GATEWAY)
        );
        ack.items.iter().map(|i| i.status()).collect()
    };
    assert_eq!(
        statuses(mapping::downlink_tx_ack(
            &frame,
            &[TxAckStatus::TooLate, TxAckStatus::Ok]
        )),
        [TxAckStatus::TooLate, TxAckStatus::Ok, TxAckStatus::Ignored]
    );
    assert_eq!(
        statuses(mapping::downlink_tx_ack(&frame, &[])),
        [TxAckStatus::Ignored; 3]
    );
}
