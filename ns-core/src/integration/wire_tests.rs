//! Wire-format checks: every message through protobuf and JSON and back, and
//! our JSON against ChirpStack's, written out by hand.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use lorawan::{DevAddr, Eui64};
use packet_forwarder::gw::{self, common};
use uuid::Uuid;

use super::*;
use crate::model::{self, Application, Device, DeviceProfile, Tenant};

const TIME_SECONDS: u64 = 1_700_000_000;

fn time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::new(TIME_SECONDS, 123_456_789)
}

fn dedup_id() -> Uuid {
    Uuid::from_str("3ac7e3c4-4401-4b8d-9386-a5c902f9202d").unwrap()
}

fn info() -> DeviceInfo {
    let mut tenant = Tenant::new("ChirpStack");
    tenant.id = Uuid::from_str("52f14cd4-c6f1-4fbd-8f87-4025e1d49242").unwrap();
    let mut application = Application::new(tenant.id, "Test application");
    application.id = Uuid::from_str("17c82e96-be03-4f38-aef3-f83d48582d97").unwrap();
    let mut profile = DeviceProfile::new(
        tenant.id,
        "Test device-profile",
        lorawan::region::Region::Eu868,
        model::MacVersion::V1_0_3,
        lorawan::region::Revision::Rp002_1_0_3,
    );
    profile.id = Uuid::from_str("14855bf7-d10d-4aee-b618-ebfcb64dc7ad").unwrap();
    let device = Device::new(
        Eui64::from_u64(0x0101_0101_0101_0101),
        application.id,
        profile.id,
        "Test device",
    );
    device_info(&tenant, &application, &profile, &device)
}

fn lora(spreading_factor: u32) -> gw::Modulation {
    gw::Modulation {
        parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
            bandwidth: 125_000,
            spreading_factor,
            code_rate: gw::CodeRate::Cr45.into(),
            ..Default::default()
        })),
    }
}

fn up() -> UplinkEvent {
    uplink_event(
        info(),
        Uplink {
            deduplication_id: dedup_id(),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(TIME_SECONDS),
            dev_addr: DevAddr::from_u32(0x0018_9440),
            adr: true,
            dr: 1,
            f_cnt: 10,
            f_port: 1,
            confirmed: false,
            data: vec![0xaa],
            rx_info: vec![gw::UplinkRxInfo {
                gateway_id: "0016c001f153a14c".into(),
                uplink_id: 4_217_106_255,
                rssi: -36,
                snr: 10.5,
                channel: 2,
                location: Some(common::Location::default()),
                context: vec![0x10, 0x5c, 0x0c, 0xb4],
                crc_status: gw::CrcStatus::CrcOk.into(),
                ..Default::default()
            }],
            tx_info: gw::UplinkTxInfo {
                frequency: 868_500_000,
                modulation: Some(lora(7)),
            },
            region_config_id: "eu868".into(),
        },
    )
}

/// An `up` event as ChirpStack v4's MQTT integration publishes it: compact,
/// keys in field order, every scalar of the `integration` messages present
/// (`"confirmed":false`, `"tags":{}`), defaults of the nested `gw` messages
/// left out, the time in RFC 3339 with `+00:00`.
const CHIRPSTACK_UP_JSON: &str = concat!(
    r#"{"deduplicationId":"3ac7e3c4-4401-4b8d-9386-a5c902f9202d","#,
    r#""time":"2023-11-14T22:13:20+00:00","#,
    r#""deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"ChirpStack","#,
    r#""applicationId":"17c82e96-be03-4f38-aef3-f83d48582d97","applicationName":"Test application","#,
    r#""deviceProfileId":"14855bf7-d10d-4aee-b618-ebfcb64dc7ad","deviceProfileName":"Test device-profile","#,
    r#""deviceName":"Test device","devEui":"0101010101010101","deviceClassEnabled":"CLASS_A","tags":{}},"#,
    r#""devAddr":"00189440","adr":true,"dr":1,"fCnt":10,"fPort":1,"confirmed":false,"data":"qg==","#,
    r#""rxInfo":[{"gatewayId":"0016c001f153a14c","uplinkId":4217106255,"rssi":-36,"snr":10.5,"#,
    r#""channel":2,"location":{},"context":"EFwMtA==","crcStatus":"CRC_OK"}],"#,
    r#""txInfo":{"frequency":868500000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":7,"codeRate":"CR_4_5"}}},"#,
    r#""regionConfigId":"eu868"}"#,
);

#[test]
fn up_event_json_is_chirpstacks_byte_for_byte() {
    let json = String::from_utf8(encode(&up(), Encoding::Json)).unwrap();
    assert_eq!(json, CHIRPSTACK_UP_JSON);
}

#[test]
fn chirpstack_up_json_decodes_to_the_same_event() {
    let decoded: UplinkEvent = decode(CHIRPSTACK_UP_JSON.as_bytes(), Encoding::Json).unwrap();
    assert_eq!(decoded, up());
}

#[test]
fn default_events_write_every_scalar_as_chirpstack_does() {
    let json = |event: &Event| String::from_utf8(event.encode(Encoding::Json)).unwrap();
    assert_eq!(
        json(&UplinkEvent::default().into()),
        r#"{"deduplicationId":"","devAddr":"","adr":false,"dr":0,"fCnt":0,"fPort":0,"confirmed":false,"data":"","rxInfo":[],"regionConfigId":""}"#
    );
    assert_eq!(
        json(&LogEvent::default().into()),
        r#"{"level":"INFO","code":"UNKNOWN","description":"","context":{}}"#
    );
    assert_eq!(
        json(&StatusEvent::default().into()),
        r#"{"deduplicationId":"","margin":0,"externalPowerSource":false,"batteryLevelUnavailable":false,"batteryLevel":0.0}"#
    );
    assert_eq!(
        json(&TxAckEvent::default().into()),
        r#"{"downlinkId":0,"queueItemId":"","fCntDown":0,"gatewayId":""}"#
    );
}

#[test]
fn device_info_json_has_class_name_and_sorted_tags() {
    let mut info = info();
    info.device_class_enabled = common::DeviceClass::ClassC.into();
    info.tags = BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]);
    let json = String::from_utf8(encode(&info, Encoding::Json)).unwrap();
    assert!(
        json.ends_with(r#""deviceClassEnabled":"CLASS_C","tags":{"a":"1","b":"2"}}"#),
        "{json}"
    );
}

#[test]
fn time_keeps_its_nanoseconds_in_json() {
    let join = join_event(
        DeviceInfo::default(),
        dedup_id(),
        time(),
        DevAddr::from_u32(1),
        "",
    );
    let json = String::from_utf8(encode(&join, Encoding::Json)).unwrap();
    assert!(
        json.contains(r#""time":"2023-11-14T22:13:20.123456789+00:00""#),
        "{json}"
    );
}

/// One populated instance of every message type of the package.
fn every_message() -> Vec<Event> {
    let queue_item_id = Uuid::from_u128(0x9c5d_0a67_1f0b_4c3e_8f6f_6a1b_2c3d_4e5f);
    let mut up = up();
    up.object = Some(Struct::from_iter([
        ("temperature".to_owned(), Value::from(21.5)),
        ("label".to_owned(), Value::from("kitchen")),
        ("on".to_owned(), Value::from(true)),
        (
            "list".to_owned(),
            Value::from(vec![Value::from(1.0), Value::from("two")]),
        ),
    ]));
    up.relay_rx_info = Some(UplinkRelayRxInfo {
        dev_eui: "0202020202020202".into(),
        frequency: 868_100_000,
        dr: 5,
        snr: -7,
        rssi: -110,
        wor_channel: 1,
    });
    up.join_server_context = Some(common::JoinServerContext {
        session_key_id: "abc".into(),
        app_s_key: Some(common::KeyEnvelope {
            kek_label: "kek".into(),
            aes_key: vec![1; 16],
        }),
    });
    let tx_info = gw::DownlinkTxInfo {
        frequency: 869_525_000,
        power: 14,
        modulation: Some(lora(9)),
        timing: Some(gw::Timing {
            parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                delay: Some(gw::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
            })),
        }),
        context: vec![1, 2, 3, 4],
        ..Default::default()
    };
    vec![
        up.into(),
        join_event(
            info(),
            dedup_id(),
            time(),
            DevAddr::from_u32(0x0018_9440),
            "eu868",
        )
        .into(),
        ack_event(info(), dedup_id(), time(), queue_item_id, true, 7).into(),
        tx_ack_event(
            info(),
            time(),
            123_456,
            Some(queue_item_id),
            7,
            Eui64::from_u64(0x0016_c001_f153_a14c),
            tx_info,
        )
        .into(),
        log_event(
            info(),
            time(),
            LogLevel::Error,
            LogCode::Expired,
            "expired",
            BTreeMap::from([("queue_item_id".into(), queue_item_id.to_string())]),
        )
        .into(),
        status_event(info(), dedup_id(), time(), -3, 200).into(),
        location_event(
            info(),
            dedup_id(),
            time(),
            common::Location {
                latitude: 52.3676,
                longitude: 4.9041,
                altitude: 2.5,
                source: common::LocationSource::GeoResolverTdoa.into(),
                accuracy: 12.5,
            },
        )
        .into(),
        IntegrationEvent {
            deduplication_id: dedup_id().to_string(),
            time: Some(timestamp(time())),
            device_info: Some(info()),
            integration_name: "example".into(),
            event_type: "reading".into(),
            object: Some(Struct::from_iter([("x".to_owned(), Value::from(1.5))])),
        }
        .into(),
    ]
}

fn round_trip<M: IntegrationMessage + PartialEq + std::fmt::Debug>(message: &M) {
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let bytes = encode(message, encoding);
        let back: M = decode(&bytes, encoding)
            .unwrap_or_else(|e| panic!("{} {encoding:?}: {e}", M::full_name()));
        assert_eq!(&back, message, "{} {encoding:?}", M::full_name());
    }
}

#[test]
fn every_event_round_trips_through_protobuf_and_json() {
    for event in every_message() {
        match &event {
            Event::Up(e) => round_trip(e),
            Event::Join(e) => round_trip(e),
            Event::Ack(e) => round_trip(e),
            Event::TxAck(e) => round_trip(e),
            Event::Log(e) => round_trip(e),
            Event::Status(e) => round_trip(e),
            Event::Location(e) => round_trip(e),
            Event::Integration(e) => round_trip(e),
        }
        if let Some(info) = event.device_info() {
            round_trip(info);
        }
    }
}

#[test]
fn downlink_command_and_relay_info_round_trip() {
    round_trip(&DownlinkCommand {
        id: Uuid::from_u128(7).to_string(),
        dev_eui: "0101010101010101".into(),
        confirmed: true,
        f_port: 10,
        data: vec![1, 2, 3],
        object: Some(Struct::from_iter([("led".to_owned(), Value::from(true))])),
        expires_at: Some(timestamp(time())),
    });
    round_trip(&UplinkRelayRxInfo {
        dev_eui: "0202020202020202".into(),
        frequency: 868_100_000,
        dr: 5,
        snr: -7,
        rssi: -110,
        wor_channel: 1,
    });
}

/// pbjson-types reads a JSON `null` inside a `Struct` as a `Value` with no
/// kind rather than `NullValue`; ChirpStack uses the same crate, so its
/// events behave the same. Protobuf then writes an empty `Value`.
#[test]
fn json_null_in_an_object_decodes_as_a_value_without_kind() {
    let up: UplinkEvent = decode(br#"{"object":{"x":null}}"#, Encoding::Json).unwrap();
    assert_eq!(up.object.unwrap().fields["x"], Value { kind: None });
}

#[test]
fn json_with_unknown_keys_and_snake_case_decodes() {
    let json = br#"{"dedup":"x","dev_addr":"01020304","fCnt":3,"future":{"a":1}}"#;
    let up: UplinkEvent = decode(json, Encoding::Json).unwrap();
    assert_eq!((up.dev_addr.as_str(), up.f_cnt), ("01020304", 3));
}

#[test]
fn malformed_payloads_are_errors_naming_the_message() {
    let err = decode::<UplinkEvent>(b"\x0a\xff", Encoding::Protobuf).unwrap_err();
    assert!(err.to_string().contains("integration.UplinkEvent"), "{err}");
    let err = decode::<LogEvent>(br#"{"level":"LOUD"}"#, Encoding::Json).unwrap_err();
    assert!(err.to_string().contains("integration.LogEvent"), "{err}");
}
