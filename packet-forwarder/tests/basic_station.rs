//! Basics Station LNS protocol codecs: reassembly, router_config, dnmsg and
//! router-info (the session is in `basic_station_session.rs`). Values marked "Go
//! bridge" are facts from chirpstack-gateway-bridge's basicstation struct
//! tests; values marked "station docs" from Basic Station's documentation.

use lorawan::phy::{DataFrameRepr, FCtrl, Frame, JoinRequestRepr, MType};
use lorawan::region::{ChannelSet, Region, Revision, params};
use lorawan::{DevAddr, DevNonce, Eui64, Mic};
use packet_forwarder::basic_station::{
    Dnmsg, Error, Jreq, LnsMessage, RadioMetadata, RouterConfig, RouterConfigOptions,
    RouterInfoRequest, RouterInfoResponse, StationMessage, UpInfo, Updf, parse_context,
};
use packet_forwarder::gw;
use serde_json::{Value, json};

fn eu868() -> &'static lorawan::region::RegionParams {
    params(Region::Eu868, Revision::Rp002_1_0_4)
}

fn us915() -> &'static lorawan::region::RegionParams {
    params(Region::Us915, Revision::Rp002_1_0_4)
}

fn gateway() -> Eui64 {
    Eui64::from_u64(0x0102_0304_0506_0708)
}

fn radio(dr: u8, freq: u32) -> RadioMetadata {
    RadioMetadata {
        dr,
        freq,
        ref_time: None,
        upinfo: UpInfo {
            rctx: 1,
            xtime: 2,
            gpstime: None,
            fts: None,
            rssi: 120.0,
            snr: 5.5,
            rxtime: None,
        },
    }
}

#[test]
fn updf_reassembles_go_bridge_fixture_bytes() {
    // Go bridge: MHdr 0x40, DevAddr -10, FCnt 400, FOpts 0102, FPort 1,
    // FRMPayload 04030201, MIC -20. Its FCtrl 0x80 claims no FOpts; with the
    // FOptsLen bits set the frame is the fixture's bytes but for that nibble.
    let text = br#"{"msgtype":"updf","MHdr":64,"DevAddr":-10,"FCtrl":130,"FCnt":400,
        "FOpts":"0102","FPort":1,"FRMPayload":"04030201","MIC":-20,"DR":5,"Freq":868100000,
        "upinfo":{"rctx":1,"xtime":2,"rssi":120,"snr":5.5}}"#;
    let msg = StationMessage::parse(text).unwrap();
    let frame = msg.uplink_frame(eu868(), gateway(), 7).unwrap().unwrap();
    assert_eq!(
        frame.phy_payload,
        [
            0x40, 0xf6, 0xff, 0xff, 0xff, 0x82, 0x90, 0x01, 0x01, 0x02, 0x01, 0x04, 0x03, 0x02,
            0x01, 0xec, 0xff, 0xff, 0xff
        ]
    );
    let tx = frame.tx_info.unwrap();
    assert_eq!(tx.frequency, 868_100_000);
    let Some(gw::modulation::Parameters::Lora(l)) = tx.modulation.unwrap().parameters else {
        panic!("not LoRa")
    };
    assert_eq!((l.spreading_factor, l.bandwidth), (7, 125_000));
    assert_eq!(l.code_rate(), gw::CodeRate::Cr45);
    let rx = frame.rx_info.unwrap();
    assert_eq!(rx.gateway_id, "0102030405060708");
    assert_eq!((rx.rssi, rx.snr, rx.uplink_id), (120, 5.5, 7));
    assert_eq!(rx.context, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
}

#[test]
fn updf_fopts_disagreeing_with_fctrl_is_rejected() {
    // The Go bridge fixture's FCtrl 0x80 with two FOpts bytes: not a frame.
    let updf = Updf {
        mhdr: 0x40,
        dev_addr: -10,
        fctrl: 0x80,
        fcnt: 400,
        fopts: vec![1, 2],
        fport: -1,
        frm_payload: vec![],
        mic: -20,
        radio: radio(5, 868_100_000),
    };
    assert!(matches!(
        updf.phy_payload(),
        Err(Error::Reassembly { field: "FOpts", .. })
    ));
}

#[test]
fn updf_fport_present_without_frm_payload_keeps_the_fport_byte() {
    // Go bridge: FPort 1 and no FRMPayload.
    let updf = Updf {
        mhdr: 0x40,
        dev_addr: -10,
        fctrl: 0x82,
        fcnt: 400,
        fopts: vec![1, 2],
        fport: 1,
        frm_payload: vec![],
        mic: -20,
        radio: radio(5, 868_100_000),
    };
    assert_eq!(
        updf.phy_payload().unwrap(),
        [
            0x40, 0xf6, 0xff, 0xff, 0xff, 0x82, 0x90, 0x01, 0x01, 0x02, 0x01, 0xec, 0xff, 0xff,
            0xff
        ]
    );
}

/// MType, FCtrl, FOpts, FPort, FRMPayload.
type DataCase = (MType, u8, &'static [u8], Option<u8>, &'static [u8]);

#[test]
fn data_uplinks_round_trip_through_station_fields() {
    let cases: [DataCase; 4] = [
        (MType::UnconfirmedDataUp, 0x80, &[], None, &[]),
        (
            MType::ConfirmedDataUp,
            0x23,
            &[0x02, 0x03, 0x04],
            Some(10),
            &[0xde, 0xad],
        ),
        (
            MType::UnconfirmedDataUp,
            0x00,
            &[],
            Some(0),
            &[0x03, 0x05, 0x01],
        ),
        (
            MType::UnconfirmedDataUp,
            0x0f,
            &[0xaa; 15],
            Some(224),
            &[0x55; 200],
        ),
    ];
    for (mtype, fctrl, fopts, fport, frm) in cases {
        let repr = DataFrameRepr {
            mtype,
            dev_addr: DevAddr::from_u32(0x8765_4321),
            fctrl: FCtrl(fctrl),
            fcnt: 0x1_2345,
            fopts,
            fport,
            frm_payload: frm,
        };
        let mut buf = [0u8; 256];
        let n = repr.emit(Mic([0xf1, 0xf2, 0xf3, 0xf4]), &mut buf).unwrap();
        let phy = &buf[..n];
        let updf = Updf::from_phy_payload(phy, radio(0, 868_300_000)).unwrap();
        assert_eq!(updf.dev_addr, 0x8765_4321u32 as i32);
        assert_eq!(updf.mic, 0xf4f3_f2f1u32 as i32);
        // Through JSON text and back.
        let text = StationMessage::Updf(updf).to_vec();
        let msg = StationMessage::parse(&text).unwrap();
        let (again, _) = msg.uplink().unwrap().unwrap();
        assert_eq!(again, phy);
        assert!(matches!(Frame::parse(&again), Ok(Frame::Data(_))));
    }
}

#[test]
fn jreq_round_trips_and_uses_hyphenated_euis() {
    let repr = JoinRequestRepr {
        join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
        dev_eui: Eui64::from_u64(0x0004_a30b_001c_0530),
        dev_nonce: DevNonce(0x1234),
    };
    let mut buf = [0u8; 23];
    repr.emit(Mic([1, 2, 3, 0x84]), &mut buf).unwrap();
    let jreq = Jreq::from_phy_payload(&buf, radio(0, 868_100_000)).unwrap();
    let text = StationMessage::Jreq(jreq.clone()).to_vec();
    let v: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(v["JoinEui"], "70-B3-D5-7E-D0-00-00-01");
    assert_eq!(v["DevEui"], "00-04-A3-0B-00-1C-05-30");
    assert_eq!(v["DevNonce"], 0x1234);
    assert_eq!(v["MIC"], 0x8403_0201u32 as i32);
    let msg = StationMessage::parse(&text).unwrap();
    assert_eq!(msg, StationMessage::Jreq(jreq));
    assert_eq!(msg.uplink().unwrap().unwrap().0, buf);
    assert!(matches!(Frame::parse(&buf), Ok(Frame::JoinRequest(_))));
}

#[test]
fn jreq_in_station_spelling_parses() {
    // Station docs style: lowercase hyphenated EUIs, DR/Freq/upinfo.
    let text = br#"{"msgtype":"jreq","MHdr":0,"JoinEui":"00-00-00-00-00-00-00-01",
        "DevEui":"00-00-00-00-00-00-00-02","DevNonce":3,"MIC":-1,"DR":0,"Freq":868100000,
        "RefTime":0.0,"upinfo":{"rctx":0,"xtime":12345,"gpstime":0,"fts":-1,"rssi":-50,
        "snr":9.25,"rxtime":1565014512.25}}"#;
    let msg = StationMessage::parse(text).unwrap();
    let frame = msg.uplink_frame(eu868(), gateway(), 1).unwrap().unwrap();
    assert_eq!(
        frame.phy_payload,
        [
            0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0xff, 0xff, 0xff, 0xff
        ]
    );
    let rx = frame.rx_info.unwrap();
    assert_eq!(rx.time_since_gps_epoch, None);
    assert_eq!(rx.fine_time_since_gps_epoch, None);
    let t = rx.gw_time.unwrap();
    assert_eq!((t.seconds, t.nanos), (1_565_014_512, 250_000_000));
    assert_eq!(parse_context(&rx.context), Some((0, 12345)));
}

#[test]
fn propdf_is_the_whole_frame() {
    let text = br#"{"msgtype":"propdf","FRMPayload":"E0010203","DR":5,"Freq":868100000,
        "upinfo":{"xtime":2,"rssi":-70,"snr":7,"gpstime":1234567890123456,"fts":500}}"#;
    let frame = StationMessage::parse(text)
        .unwrap()
        .uplink_frame(eu868(), gateway(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(frame.phy_payload, [0xe0, 1, 2, 3]);
    let rx = frame.rx_info.unwrap();
    let g = rx.time_since_gps_epoch.unwrap();
    assert_eq!((g.seconds, g.nanos), (1_234_567_890, 123_456_000));
    let f = rx.fine_time_since_gps_epoch.unwrap();
    assert_eq!((f.seconds, f.nanos), (1_234_567_890, 500));
}

#[test]
fn errors_say_what_is_wrong() {
    assert!(matches!(StationMessage::parse(b"{"), Err(Error::Syntax(_))));
    assert!(matches!(
        StationMessage::parse(b"[]"),
        Err(Error::Syntax(_))
    ));
    assert_eq!(StationMessage::parse(b"{}"), Err(Error::MissingMsgType));
    assert_eq!(
        StationMessage::parse(br#"{"msgtype":"dnmsg"}"#),
        Err(Error::UnknownMsgType("dnmsg".into()))
    );
    assert_eq!(
        StationMessage::parse(br#"{"msgtype":"timesync"}"#),
        Err(Error::MissingField {
            msgtype: "timesync".into(),
            field: "txtime".into()
        })
    );
    assert!(matches!(
        StationMessage::parse(br#"{"msgtype":"timesync","txtime":"x"}"#),
        Err(Error::Invalid { .. })
    ));
    let bad_dr = br#"{"msgtype":"propdf","FRMPayload":"E0","DR":15,"Freq":868100000,
        "upinfo":{"xtime":2,"rssi":-70,"snr":7}}"#;
    assert_eq!(
        StationMessage::parse(bad_dr)
            .unwrap()
            .uplink_frame(eu868(), gateway(), 1)
            .unwrap(),
        Err(Error::UnknownDataRate {
            dr: 15,
            region: Region::Eu868
        })
    );
}

#[test]
fn router_info_accepts_every_id_form_and_answers_in_id6() {
    for text in [
        &br#"{"router":"b827:ebff:fe61:51a2"}"#[..],
        br#"{"router":"b8-27-eb-ff-fe-61-51-a2"}"#,
        br#"{"router":"b827ebfffe6151a2"}"#,
        br#"{"router":13269834311787434402}"#,
    ] {
        let req = RouterInfoRequest::parse(text).unwrap();
        assert_eq!(req.router.to_u64(), 0xb827_ebff_fe61_51a2);
    }
    assert!(RouterInfoRequest::parse(br#"{"router":"nope"}"#).is_err());
    let err = RouterInfoResponse::error(Eui64::from_u64(1), "unknown gateway").to_json();
    assert_eq!(err, r#"{"router":"0:0:0:1","error":"unknown gateway"}"#);
}

#[test]
fn router_config_eu868_default_channels() {
    let opts = RouterConfigOptions {
        net_ids: vec![lorawan::NetId::from_u32(0x13).unwrap()],
        join_eui_ranges: vec![(Eui64::from_u64(0), Eui64::from_u64(u64::MAX))],
        ..Default::default()
    };
    let rc = RouterConfig::new(eu868(), &ChannelSet::first(3), &opts).unwrap();
    let v = serde_json::to_value(
        LnsMessage::RouterConfig(rc)
            .to_json()
            .parse::<Value>()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(v["msgtype"], "router_config");
    assert_eq!(v["region"], "EU863");
    assert_eq!(v["hwspec"], "sx1301/1");
    assert_eq!(v["freq_range"], json!([863_000_000, 870_000_000]));
    assert_eq!(v["NetID"], json!([0x13]));
    assert_eq!(v["JoinEui"], json!([[0u64, u64::MAX]]));
    // Station docs / research note: EU868 DR table.
    assert_eq!(
        v["DRs"],
        json!([
            [12, 125, 0],
            [11, 125, 0],
            [10, 125, 0],
            [9, 125, 0],
            [8, 125, 0],
            [7, 125, 0],
            [7, 250, 0],
            [0, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0]
        ])
    );
    let c = &v["sx1301_conf"][0];
    assert_eq!(c["radio_0"], json!({"enable": true, "freq": 868_300_000}));
    assert_eq!(c["radio_1"], json!({"enable": false, "freq": 0}));
    assert_eq!(
        c["chan_multiSF_0"],
        json!({"enable": true, "radio": 0, "if": -200_000})
    );
    assert_eq!(
        c["chan_multiSF_1"],
        json!({"enable": true, "radio": 0, "if": 0})
    );
    assert_eq!(
        c["chan_multiSF_2"],
        json!({"enable": true, "radio": 0, "if": 200_000})
    );
    assert_eq!(c["chan_multiSF_3"]["enable"], false);
    assert_eq!(c["chan_Lora_std"]["enable"], false);
    assert_eq!(c["chan_FSK"]["enable"], false);
}

#[test]
fn router_config_us915_sub_band_2() {
    let enabled = ChannelSet::from_indices((8..16).chain([65])).unwrap();
    let rc = RouterConfig::new(us915(), &enabled, &RouterConfigOptions::default()).unwrap();
    let v: Value = LnsMessage::RouterConfig(rc).to_json().parse().unwrap();
    assert_eq!(v["region"], "US902");
    assert_eq!(v["NetID"], Value::Null);
    assert_eq!(v["JoinEui"], Value::Null);
    assert_eq!(
        v["DRs"],
        json!([
            [10, 125, 0],
            [9, 125, 0],
            [8, 125, 0],
            [7, 125, 0],
            [8, 500, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [-1, 0, 0],
            [12, 500, 1],
            [11, 500, 1],
            [10, 500, 1],
            [9, 500, 1],
            [8, 500, 1],
            [7, 500, 1],
            [-1, 0, 0],
            [-1, 0, 0]
        ])
    );
    let c = &v["sx1301_conf"][0];
    assert_eq!(c["radio_0"]["freq"], 904_300_000);
    assert_eq!(c["radio_1"]["freq"], 905_100_000);
    let freq = |ch: &Value| {
        let r = ch["radio"].as_u64().unwrap();
        let centre = c[format!("radio_{r}")]["freq"].as_i64().unwrap();
        centre + ch["if"].as_i64().unwrap()
    };
    let multi: Vec<i64> = (0..8)
        .map(|i| freq(&c[format!("chan_multiSF_{i}")]))
        .collect();
    assert_eq!(
        multi,
        (0..8)
            .map(|i| 903_900_000 + 200_000 * i)
            .collect::<Vec<_>>()
    );
    let std = &c["chan_Lora_std"];
    assert_eq!(
        (std["bandwidth"].clone(), std["spread_factor"].clone()),
        (json!(500_000), json!(8))
    );
    assert_eq!(freq(std), 904_600_000);
}

#[test]
fn router_config_rejects_a_tenth_multi_sf_channel() {
    let enabled = ChannelSet::from_indices(0..9).unwrap();
    assert!(matches!(
        RouterConfig::new(us915(), &enabled, &RouterConfigOptions::default()),
        Err(Error::ChannelPlan(_))
    ));
}

fn lora(sf: u32, bw: u32) -> Option<gw::Modulation> {
    Some(gw::Modulation {
        parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
            bandwidth: bw,
            spreading_factor: sf,
            code_rate: gw::CodeRate::Cr45.into(),
            polarization_inversion: true,
            ..Default::default()
        })),
    })
}

fn item(
    freq: u32,
    sf: u32,
    timing: gw::timing::Parameters,
    context: Vec<u8>,
) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: vec![0x60, 1, 2, 3],
        tx_info: Some(gw::DownlinkTxInfo {
            frequency: freq,
            power: 14,
            modulation: lora(sf, 125_000),
            timing: Some(gw::Timing {
                parameters: Some(timing),
            }),
            context,
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

fn class_a_frame() -> gw::DownlinkFrame {
    let ctx = packet_forwarder::basic_station::context(1, 0x0011_2233_4455_6677);
    gw::DownlinkFrame {
        downlink_id: 1234,
        gateway_id: "0102030405060708".into(),
        items: vec![
            item(868_100_000, 7, delay(1), ctx.clone()),
            item(869_525_000, 12, delay(2), ctx),
        ],
        ..Default::default()
    }
}

#[test]
fn dnmsg_class_a_has_rx1_and_rx2() {
    let d = Dnmsg::from_downlink_frame(eu868(), &class_a_frame()).unwrap();
    let v: Value = LnsMessage::Dnmsg(d).to_json().parse().unwrap();
    assert_eq!(
        v,
        json!({"msgtype":"dnmsg","DevEui":"01-01-01-01-01-01-01-01","dC":0,"diid":1234,
               "pdu":"60010203","priority":1,"RxDelay":1,"RX1DR":5,"RX1Freq":868_100_000,
               "RX2DR":0,"RX2Freq":869_525_000,"xtime":0x0011_2233_4455_6677i64,"rctx":1})
    );
}

#[test]
fn dnmsg_class_c_is_immediate_on_rx2() {
    let frame = gw::DownlinkFrame {
        downlink_id: 5,
        items: vec![item(
            869_525_000,
            9,
            gw::timing::Parameters::Immediately(gw::ImmediatelyTimingInfo {}),
            vec![],
        )],
        ..Default::default()
    };
    let d = Dnmsg::from_downlink_frame(eu868(), &frame).unwrap();
    assert_eq!(
        (d.dc, d.rx2_dr, d.rx2_freq),
        (2, Some(3), Some(869_525_000))
    );
    assert_eq!((d.rx_delay, d.rx1_dr, d.xtime), (None, None, None));
}

#[test]
fn dnmsg_class_b_uses_gpstime() {
    let frame = gw::DownlinkFrame {
        downlink_id: 6,
        items: vec![item(
            869_525_000,
            9,
            gw::timing::Parameters::GpsEpoch(gw::GpsEpochTimingInfo {
                time_since_gps_epoch: Some(gw::Duration {
                    seconds: 1_300_000_000,
                    nanos: 5_000,
                }),
            }),
            vec![],
        )],
        ..Default::default()
    };
    let d = Dnmsg::from_downlink_frame(eu868(), &frame).unwrap();
    assert_eq!((d.dc, d.dr, d.freq), (1, Some(3), Some(869_525_000)));
    assert_eq!(d.gpstime, Some(1_300_000_000_000_005));
}

#[test]
fn dnmsg_rejects_a_modulation_the_region_cannot_send() {
    let mut frame = class_a_frame();
    frame.items[0].tx_info.as_mut().unwrap().modulation = lora(7, 500_000);
    assert!(matches!(
        Dnmsg::from_downlink_frame(eu868(), &frame),
        Err(Error::Downlink(_))
    ));
    assert!(matches!(
        Dnmsg::from_downlink_frame(eu868(), &gw::DownlinkFrame::default()),
        Err(Error::Downlink(_))
    ));
}
