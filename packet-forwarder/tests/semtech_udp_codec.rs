//! The Semtech UDP (GWMP) codec against the protocol document's examples,
//! ChirpStack's known cases, malformed datagrams and random round trips.

use lorawan::Eui64;
use lorawan::modulation::{LoraCodingRate, LrFhssCodingRate, Modulation};
use packet_forwarder::semtech_udp::*;
use proptest::prelude::*;

const EUI: [u8; 8] = [0xaa, 0x55, 0x5a, 0, 0, 0, 0x01, 0x01];

fn push_data(json: &str) -> Vec<u8> {
    let mut b = vec![2, 0xab, 0xcd, 0];
    b.extend_from_slice(&EUI);
    b.extend_from_slice(json.as_bytes());
    b
}

fn round_trips(p: &Packet) {
    let bytes = p.to_vec();
    assert_eq!(
        Packet::parse(&bytes).as_ref(),
        Ok(p),
        "{}",
        String::from_utf8_lossy(&bytes)
    );
}

// PROTOCOL.TXT §4: the second and third rxpk examples, verbatim.
const DOC_RXPK: &str = r#"{"rxpk":[
    {"time":"2013-03-31T16:21:17.530974Z","tmst":3512348514,"chan":9,"rfch":1,"freq":869.1,
     "stat":1,"modu":"FSK","datr":50000,"rssi":-75,"size":16,"data":"VEVTVF9QQUNLRVRfMTIzNA=="},
    {"time":"2013-03-31T16:21:17.532038Z","tmst":3316387610,"chan":0,"rfch":0,"freq":863.00981,
     "stat":1,"modu":"LORA","datr":"SF10BW125","codr":"4/7","rssi":-38,"lsnr":5.5,"size":32,
     "data":"ysgRl452xNLep9S1NTIg2lomKDxUgn3DJ7DE+b00Ass"}
]}"#;

#[test]
fn protocol_document_rxpk_examples_parse() {
    let Packet::PushData(p) = Packet::parse(&push_data(DOC_RXPK)).unwrap() else {
        panic!("not a PUSH_DATA")
    };
    assert_eq!(p.version, ProtocolVersion::V2);
    assert_eq!(p.token, 0xabcd);
    assert_eq!(p.gateway_eui, Eui64::from_be_bytes(EUI));
    let [fsk, lora] = &p.payload.rxpk[..] else {
        panic!()
    };
    assert_eq!(fsk.modulation(), Ok(Modulation::Fsk { bitrate: 50_000 }));
    assert_eq!(fsk.data, b"TEST_PACKET_1234");
    assert_eq!(
        (fsk.tmst, fsk.chan, fsk.rfch, fsk.rssi, fsk.lsnr),
        (3512348514, Some(9), Some(1), Some(-75), None)
    );
    assert_eq!(fsk.time.as_deref(), Some("2013-03-31T16:21:17.530974Z"));
    assert_eq!(lora.freq, 863.00981);
    assert_eq!(lora.stat, CrcStatus::Ok);
    assert_eq!(
        lora.modulation(),
        Ok(Modulation::Lora {
            spreading_factor: 10,
            bandwidth: 125_000
        })
    );
    assert_eq!(
        lora.codr.as_ref().unwrap().lora(),
        Ok(LoraCodingRate::Cr4_7)
    );
    assert_eq!((lora.lsnr, lora.size, lora.data.len()), (Some(5.5), 32, 32));
    round_trips(&Packet::PushData(p));
}

#[test]
fn protocol_document_first_rxpk_has_invalid_base64_and_says_so() {
    // The document's first example payload mixes the two base64 alphabets.
    let json = r#"{"rxpk":[{"time":"2013-03-31T16:21:17.528002Z","tmst":3512348611,"chan":2,
        "rfch":0,"freq":866.349812,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/6",
        "rssi":-35,"lsnr":5.1,"size":32,"data":"-DS4CGaDCdG+48eJNM3Vai-zDpsR71Pn9CPA9uCON84"}]}"#;
    let Err(Error::Json {
        identifier,
        message,
    }) = Packet::parse(&push_data(json))
    else {
        panic!("accepted")
    };
    assert_eq!(identifier, Identifier::PushData);
    assert!(message.contains("invalid base64"), "{message}");
}

#[test]
fn protocol_document_stat_example_parses() {
    let json = r#"{"stat":{"time":"2014-01-12 08:59:28 GMT","lati":46.24000,"long":3.25230,
        "alti":145,"rxnb":2,"rxok":2,"rxfw":2,"ackr":100.0,"dwnb":2,"txnb":2}}"#;
    let p = PushData::parse(&push_data(json)).unwrap();
    assert!(p.payload.rxpk.is_empty());
    let s = p.payload.stat.as_ref().unwrap();
    assert_eq!(s.time.as_deref(), Some("2014-01-12 08:59:28 GMT"));
    assert_eq!(
        (s.lati, s.long, s.alti),
        (Some(46.24), Some(3.2523), Some(145))
    );
    assert_eq!(
        (s.rxnb, s.rxok, s.rxfw, s.ackr, s.dwnb, s.txnb),
        (2, 2, 2, 100.0, 2, 2)
    );
    assert_eq!(s.temp, None);
    round_trips(&p.into());
}

#[test]
fn protocol_document_lora_txpk_example_parses() {
    let mut b = vec![2, 0x56, 0x78, 3];
    b.extend_from_slice(
        br#"{"txpk":{"imme":true,"freq":864.123456,"rfch":0,"powe":14,"modu":"LORA",
            "datr":"SF11BW125","codr":"4/6","ipol":false,"size":32,
            "data":"H3P3N2i9qc4yt7rK7ldqoeCVJGBybzPY5h1Dd7P7p8v"}}"#,
    );
    let Packet::PullResp(p) = Packet::parse(&b).unwrap() else {
        panic!()
    };
    let tx = &p.payload.txpk;
    assert!(tx.imme && !tx.ipol);
    assert_eq!(
        (tx.freq, tx.rfch, tx.powe, tx.tmst),
        (864.123456, 0, Some(14), None)
    );
    assert_eq!(
        tx.modulation(),
        Ok(Modulation::Lora {
            spreading_factor: 11,
            bandwidth: 125_000
        })
    );
    assert_eq!(tx.data.len(), 32);
    round_trips(&p.into());
}

#[test]
fn sx1302_stat_with_temperature_and_meta() {
    let json = r#"{"stat":{"time":"2024-01-01 00:00:00 UTC","rxnb":10,"rxok":9,"rxfw":9,
        "ackr":100.0,"dwnb":1,"txnb":1,"temp":41.5,"meta":{"gateway_name":"roof"}}}"#;
    let p = PushData::parse(&push_data(json)).unwrap();
    let s = p.payload.stat.as_ref().unwrap();
    assert_eq!(s.temp, Some(41.5));
    assert_eq!(s.meta.as_ref().unwrap()["gateway_name"], "roof");
    assert_eq!((s.lati, s.long, s.alti), (None, None, None));
    round_trips(&p.into());
}

#[test]
fn chirpstack_multi_antenna_rxpk_with_rsig() {
    // chirpstack-gateway-bridge "uplink with multiple antennas": tmst 1 000 000,
    // 868.3 MHz, SF12BW500, aesk 7, two rsig entries.
    let json = r#"{"rxpk":[{"time":"2019-01-01T00:00:00Z","tmms":600000,"tmst":1000000,
        "freq":868.3,"aesk":7,"brd":2,"chan":1,"rfch":3,"stat":1,"modu":"LORA",
        "datr":"SF12BW500","codr":"4/5","rssi":-60,"lsnr":5.5,"size":5,"data":"AQIDBAU=",
        "jver":2,"rsig":[
          {"ant":8,"chan":9,"lsnr":6.6,"etime":"AgMEBQ==","rssic":-70},
          {"ant":9,"chan":10,"lsnr":7.7,"rssic":-80}]}]}"#;
    let p = PushData::parse(&push_data(json)).unwrap();
    let rx = &p.payload.rxpk[0];
    assert_eq!(rx.tmst.to_be_bytes(), [0x00, 0x0f, 0x42, 0x40]);
    assert_eq!(
        (rx.tmms, rx.aesk, rx.brd, rx.jver),
        (Some(600_000), Some(7), Some(2), Some(2))
    );
    assert_eq!(rx.data, [1, 2, 3, 4, 5]);
    assert_eq!(rx.rsig.len(), 2);
    assert_eq!(rx.rsig[0].etime.as_deref(), Some(&[2, 3, 4, 5][..]));
    assert_eq!(
        (
            rx.rsig[0].ant,
            rx.rsig[0].chan,
            rx.rsig[0].rssic,
            rx.rsig[0].lsnr
        ),
        (8, 9, Some(-70), Some(6.6))
    );
    assert_eq!((rx.rsig[1].ant, rx.rsig[1].etime.as_ref()), (9, None));
    round_trips(&p.into());
}

#[test]
fn sx1302_fine_timestamp_and_lr_fhss_and_2g4_keys() {
    let json = r#"{"rxpk":[
        {"jver":1,"tmst":1,"tmms":1300000000123,"ftime":500000000,"chan":0,"rfch":0,
         "freq":868.1,"mid":8,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5",
         "rssis":-50,"rssi":-48,"lsnr":9.5,"foff":-150,"size":0,"data":"","ant":1},
        {"tmst":2,"freq":867.1,"stat":-1,"modu":"LR-FHSS","datr":"M0CW137","codr":"1/3",
         "hpw":8,"rssi":-110,"size":1,"data":"QQ=="},
        {"tmst":3,"freq":2403.0,"stat":0,"modu":"LORA","datr":"SF12BW812","codr":"4/8LI",
         "rssi":-90,"lsnr":-3.25,"size":0,"data":""}]}"#;
    let p = PushData::parse(&push_data(json)).unwrap();
    let [a, b, c] = &p.payload.rxpk[..] else {
        panic!()
    };
    assert_eq!(
        (a.ftime, a.mid, a.rssis, a.foff, a.ant),
        (Some(500_000_000), Some(8), Some(-50), Some(-150), Some(1))
    );
    assert_eq!(b.stat, CrcStatus::Bad);
    assert_eq!(
        b.modulation(),
        Ok(Modulation::LrFhss {
            coding_rate: LrFhssCodingRate::Cr1_3,
            occupied_channel_width: 137_000
        })
    );
    assert_eq!(c.stat, CrcStatus::NoCrc);
    assert_eq!(
        c.modulation(),
        Ok(Modulation::Lora {
            spreading_factor: 12,
            bandwidth: 812_500
        })
    );
    assert_eq!(c.codr, Some(CodingRate::Lora(LoraCodingRate::Cr4_8Li)));
    round_trips(&p.into());
}

#[test]
fn unknown_keys_are_ignored_at_every_level() {
    let json = r#"{"future":1,"rxpk":[{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA",
        "datr":"SF7BW125","codr":"4/5","size":0,"data":"","xyz":[1,2],"rsig":[{"ant":0,"chan":0,"new":{}}]}],
        "stat":{"rxnb":1,"eha":3,"sats":7}}"#;
    let p = PushData::parse(&push_data(json)).unwrap();
    assert_eq!(p.payload.rxpk.len(), 1);
    assert_eq!(p.payload.stat.as_ref().unwrap().rxnb, 1);
}

#[test]
fn version_1_packets_parse_and_echo_their_version() {
    let pull = Packet::parse(&[1, 0, 7, 2, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    assert_eq!(pull.header().version, ProtocolVersion::V1);
    let ack = PullAck {
        version: ProtocolVersion::V1,
        token: 7,
    };
    assert_eq!(ack.to_vec(), [1, 0, 7, 4]);
    assert_eq!(
        Packet::parse(&[1, 0, 7, 1]),
        Ok(Packet::PushAck(PushAck {
            version: ProtocolVersion::V1,
            token: 7
        }))
    );
}

#[test]
fn truncated_datagrams_are_rejected_with_lengths() {
    assert_eq!(
        Packet::parse(&[]),
        Err(Error::Truncated {
            what: "header",
            len: 0,
            need: 4
        })
    );
    assert_eq!(
        Packet::parse(&[2, 0, 0]),
        Err(Error::Truncated {
            what: "header",
            len: 3,
            need: 4
        })
    );
    for id in [0u8, 2, 5] {
        let e = Packet::parse(&[2, 0, 0, id, 1, 2, 3]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Truncated {
                    len: 7,
                    need: 12,
                    ..
                }
            ),
            "{e}"
        );
    }
    let e = Packet::parse(&[2, 0, 0, 3]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Json {
                identifier: Identifier::PullResp,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn bad_version_and_identifier_are_named() {
    assert_eq!(
        Packet::parse(&[0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]),
        Err(Error::UnknownVersion(0))
    );
    assert_eq!(Packet::parse(&[3, 0, 0, 0]), Err(Error::UnknownVersion(3)));
    assert_eq!(
        Packet::parse(&[2, 0, 0, 0x06]),
        Err(Error::UnknownIdentifier(6))
    );
    assert_eq!(
        Error::UnknownIdentifier(0xff).to_string(),
        "unknown packet identifier 0xff"
    );
    assert_eq!(
        PullData::parse(&[2, 0, 0, 4]),
        Err(Error::WrongIdentifier {
            expected: Identifier::PullData,
            actual: Identifier::PullAck
        })
    );
}

#[test]
fn bad_json_keeps_serdes_message() {
    let cases = [
        (r#"{"rxpk":[{"tmst":1,"#, "EOF"),
        (r#"not json"#, "expected"),
        (r#"{"rxpk":{}}"#, "invalid type"),
        (
            r#"{"rxpk":[{"tmst":"1","freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","size":0,"data":""}]}"#,
            "invalid type",
        ),
        (
            r#"{"rxpk":[{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","data":""}]}"#,
            "missing field `size`",
        ),
        (
            r#"{"rxpk":[{"tmst":1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BX125","size":0,"data":""}]}"#,
            "SF7BX125",
        ),
        (
            r#"{"rxpk":[{"tmst":1,"freq":868.1,"stat":1,"modu":"lora","datr":"SF7BW125","size":0,"data":""}]}"#,
            "unknown variant",
        ),
        (
            r#"{"rxpk":[{"tmst":-1,"freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","size":0,"data":""}]}"#,
            "invalid value",
        ),
        (r#"{"stat":{"rxnb":1.5}}"#, "invalid type"),
    ];
    for (json, needle) in cases {
        match PushData::parse(&push_data(json)) {
            Err(Error::Json {
                identifier: Identifier::PushData,
                message,
            }) => {
                assert!(message.contains(needle), "{json}: {message}")
            }
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn txpk_with_wrong_modu_case_is_rejected() {
    let mut b = vec![2, 0, 0, 3];
    b.extend_from_slice(br#"{"txpk":{"imme":true,"freq":869.525,"rfch":0,"modu":"Fsk","datr":50000,"size":0,"data":""}}"#);
    let e = Packet::parse(&b).unwrap_err();
    assert!(e.to_string().contains("unknown variant `Fsk`"), "{e}");
}

#[test]
fn tx_ack_errors_cover_every_documented_name() {
    let names = [
        ("NONE", TxAckError::None),
        ("TOO_LATE", TxAckError::TooLate),
        ("TOO_EARLY", TxAckError::TooEarly),
        ("COLLISION_PACKET", TxAckError::CollisionPacket),
        ("COLLISION_BEACON", TxAckError::CollisionBeacon),
        ("TX_FREQ", TxAckError::TxFreq),
        ("TX_POWER", TxAckError::TxPower),
        ("GPS_UNLOCKED", TxAckError::GpsUnlocked),
    ];
    for (name, error) in names {
        let mut b = vec![2, 0x12, 0x34, 5];
        b.extend_from_slice(&EUI);
        b.extend_from_slice(format!(r#"{{"txpk_ack":{{"error":"{name}"}}}}"#).as_bytes());
        let ack = TxAck::parse(&b).unwrap();
        assert_eq!(ack.payload.unwrap().txpk_ack.error, Some(error));
        assert_eq!(ack.is_accepted(), error == TxAckError::None);
        assert_eq!(ack.to_vec(), b, "{name}");
    }
}

// ---- proptest round trips ----

fn opt<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    proptest::option::of(s).boxed()
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![-1e6f64..1e6, Just(0.0), Just(868.1), Just(-7.25)]
}

fn data_rate() -> impl Strategy<Value = DataRate> {
    prop_oneof![
        (
            5u8..=12,
            prop::sample::select(vec![125u32, 250, 500, 203, 406, 812, 1625, 62])
        )
            .prop_map(|(sf, khz)| format!("SF{sf}BW{khz}").parse().unwrap()),
        any::<u32>().prop_map(|bitrate| DataRate::Fsk { bitrate }),
        prop::sample::select(vec![137u32, 336, 1523]).prop_map(|k| DataRate::LrFhss {
            occupied_channel_width: k * 1000
        }),
    ]
}

fn coding_rate() -> impl Strategy<Value = CodingRate> {
    prop_oneof![
        prop::sample::select(vec![
            "4/5", "4/6", "4/7", "4/8", "4/5LI", "4/6LI", "4/8LI", "1/3", "2/3", "1/2", "5/6",
            "2/4", "2/6"
        ])
        .prop_map(CodingRate::parse),
        "[A-Z0-9/]{0,6}".prop_map(|s| CodingRate::parse(&s)),
    ]
}

fn meta() -> BoxedStrategy<Option<std::collections::BTreeMap<String, String>>> {
    opt(prop::collection::btree_map(
        "[a-z_]{1,8}",
        "\\PC{0,8}",
        0..3,
    ))
}

fn rsig() -> impl Strategy<Value = RSig> {
    (
        any::<u32>(),
        any::<u32>(),
        (
            opt(any::<i32>()),
            opt(any::<i32>()),
            opt(any::<u32>()),
            opt(finite()),
        ),
        (
            opt(prop::collection::vec(any::<u8>(), 0..20)),
            opt(any::<i32>()),
            opt(any::<i32>()),
            opt(any::<u32>()),
            opt(any::<i32>()),
        ),
    )
        .prop_map(
            |(ant, chan, (rssic, rssis, rssisd, lsnr), (etime, foff, ftstat, ftver, ftdelta))| {
                RSig {
                    ant,
                    chan,
                    rssic,
                    rssis,
                    rssisd,
                    lsnr,
                    etime,
                    foff,
                    ftstat,
                    ftver,
                    ftdelta,
                }
            },
        )
}

fn rxpk() -> impl Strategy<Value = RxPk> {
    (
        (
            opt("[0-9TZ:.-]{0,30}"),
            opt(any::<u64>()),
            any::<u32>(),
            opt(any::<u32>()),
            finite(),
        ),
        (
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(any::<u32>()),
            prop::sample::select(vec![CrcStatus::Ok, CrcStatus::Bad, CrcStatus::NoCrc]),
        ),
        (
            prop::sample::select(vec![
                RxModulation::Lora,
                RxModulation::Fsk,
                RxModulation::LrFhss,
            ]),
            data_rate(),
            opt(coding_rate()),
            opt(any::<u32>()),
        ),
        (
            opt(any::<i32>()),
            opt(any::<i32>()),
            opt(finite()),
            opt(any::<i32>()),
        ),
        (
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..64),
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(any::<u32>()),
            opt(any::<u32>()),
        ),
        (prop::collection::vec(rsig(), 0..3), meta()),
    )
        .prop_map(
            |(
                (time, tmms, tmst, ftime, freq),
                (chan, rfch, mid, stat),
                (modu, datr, codr, hpw),
                (rssi, rssis, lsnr, foff),
                (size, data, brd, ant, aesk, jver),
                (rsig, meta),
            )| RxPk {
                time,
                tmms,
                tmst,
                ftime,
                freq,
                chan,
                rfch,
                mid,
                stat,
                modu,
                datr,
                codr,
                hpw,
                rssi,
                rssis,
                lsnr,
                foff,
                size,
                data,
                brd,
                ant,
                aesk,
                jver,
                rsig,
                meta,
            },
        )
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        (
            opt("[0-9 :A-Z-]{0,24}"),
            opt(finite()),
            opt(finite()),
            opt(any::<i32>()),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            finite(),
            any::<u32>(),
            any::<u32>(),
        ),
        (opt(finite()), meta()),
    )
        .prop_map(
            |((time, lati, long, alti), (rxnb, rxok, rxfw, ackr, dwnb, txnb), (temp, meta))| Stat {
                time,
                lati,
                long,
                alti,
                rxnb,
                rxok,
                rxfw,
                ackr,
                dwnb,
                txnb,
                temp,
                meta,
            },
        )
}

fn txpk() -> impl Strategy<Value = TxPk> {
    (
        (
            any::<bool>(),
            opt(any::<u32>()),
            opt(any::<u64>()),
            finite(),
            any::<u32>(),
            opt(any::<i32>()),
        ),
        (
            prop::sample::select(vec![TxModulation::Lora, TxModulation::Fsk]),
            data_rate(),
            opt(coding_rate()),
            opt(any::<u32>()),
        ),
        (
            any::<bool>(),
            opt(any::<u16>()),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
        (
            any::<bool>(),
            any::<bool>(),
            opt(any::<u32>()),
            opt(any::<u32>()),
        ),
    )
        .prop_map(
            |(
                (imme, tmst, tmms, freq, rfch, powe),
                (modu, datr, codr, fdev),
                (ipol, prea, size, data),
                (ncrc, nhdr, brd, ant),
            )| TxPk {
                imme,
                tmst,
                tmms,
                freq,
                rfch,
                powe,
                modu,
                datr,
                codr,
                fdev,
                ipol,
                prea,
                size,
                data,
                ncrc,
                nhdr,
                brd,
                ant,
            },
        )
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop::sample::select(vec![ProtocolVersion::V1, ProtocolVersion::V2])
}

fn tx_ack_error() -> impl Strategy<Value = TxAckError> {
    prop::sample::select(vec![
        TxAckError::None,
        TxAckError::TooLate,
        TxAckError::TooEarly,
        TxAckError::CollisionPacket,
        TxAckError::CollisionBeacon,
        TxAckError::TxFreq,
        TxAckError::TxPower,
        TxAckError::GpsUnlocked,
    ])
}

fn packet() -> impl Strategy<Value = Packet> {
    let eui = any::<u64>().prop_map(Eui64::from_u64);
    prop_oneof![
        (
            version(),
            any::<u16>(),
            eui.clone(),
            prop::collection::vec(rxpk(), 0..4),
            proptest::option::of(stat())
        )
            .prop_map(
                |(version, token, gateway_eui, rxpk, stat)| Packet::PushData(PushData {
                    version,
                    token,
                    gateway_eui,
                    payload: PushDataPayload { rxpk, stat },
                })
            ),
        (version(), any::<u16>())
            .prop_map(|(version, token)| Packet::PushAck(PushAck { version, token })),
        (version(), any::<u16>(), eui.clone()).prop_map(|(version, token, gateway_eui)| {
            Packet::PullData(PullData {
                version,
                token,
                gateway_eui,
            })
        }),
        (version(), any::<u16>(), txpk()).prop_map(|(version, token, txpk)| Packet::PullResp(
            PullResp {
                version,
                token,
                payload: PullRespPayload { txpk }
            }
        )),
        (version(), any::<u16>())
            .prop_map(|(version, token)| Packet::PullAck(PullAck { version, token })),
        (
            version(),
            any::<u16>(),
            eui,
            proptest::option::of((opt(tx_ack_error()), opt(tx_ack_error()), opt(any::<i32>())))
        )
            .prop_map(|(version, token, gateway_eui, ack)| Packet::TxAck(TxAck {
                version,
                token,
                gateway_eui,
                payload: ack.map(|(error, warn, value)| TxAckPayload {
                    txpk_ack: TxpkAck { error, warn, value }
                }),
            })),
    ]
}

proptest! {
    #[test]
    fn any_packet_emits_and_parses_back_equal(p in packet()) {
        let bytes = p.to_vec();
        prop_assert_eq!(Packet::parse(&bytes), Ok(p.clone()));
        prop_assert_eq!(Header::parse(&bytes).unwrap(), p.header());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reparse_equal(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(p) = Packet::parse(&bytes) {
            prop_assert_eq!(Packet::parse(&p.to_vec()), Ok(p));
        }
    }

    #[test]
    fn any_header_prefix_with_json_noise_never_panics(
        id in 0u8..8, v in 0u8..4, body in "\\PC{0,80}",
    ) {
        let mut b = vec![v, 1, 2, id, 1, 2, 3, 4, 5, 6, 7, 8];
        b.extend_from_slice(body.as_bytes());
        let _ = Packet::parse(&b);
    }
}
