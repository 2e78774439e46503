//! Round-trips of the `gw` messages through protobuf and ChirpStack's JSON, and
//! the shape of that JSON: camelCase keys, enums as names, bytes as base64,
//! defaults omitted, and tolerance for snake_case, legacy and unknown keys.

mod gw_fixtures;

use packet_forwarder::gw::{self, DecodeError, Encoding, GwMessage};
use serde_json::{Value, json};

fn assert_roundtrips<M: GwMessage + PartialEq + std::fmt::Debug>(message: &M) {
    for encoding in [Encoding::Protobuf, Encoding::Json] {
        let bytes = gw::encode(message, encoding);
        assert_eq!(Encoding::detect(&bytes), encoding, "{}", M::full_name());
        let decoded: M = gw::decode_detect(&bytes).unwrap();
        assert_eq!(&decoded, message, "{} via {encoding:?}", M::full_name());
    }
}

fn to_json_value<M: GwMessage>(message: &M) -> Value {
    serde_json::from_slice(&gw::encode(message, Encoding::Json)).unwrap()
}

/// Every object key in `value`, recursively, except the keys of map fields
/// (`metadata`, per-frequency counts), which are data.
fn keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                if !matches!(
                    k.as_str(),
                    "metadata"
                        | "txPacketsPerFrequency"
                        | "rxPacketsPerFrequency"
                        | "txPacketsPerStatus"
                ) {
                    keys(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[test]
fn fully_populated_messages_roundtrip_in_protobuf_and_json() {
    assert_roundtrips(&gw_fixtures::uplink_frame());
    assert_roundtrips(&gw_fixtures::downlink_frame());
    assert_roundtrips(&gw_fixtures::downlink_tx_ack());
    assert_roundtrips(&gw_fixtures::gateway_stats());
    assert_roundtrips(&gw_fixtures::gateway_configuration());
    assert_roundtrips(&gw_fixtures::conn_state());
    assert_roundtrips(&gw_fixtures::event());
    assert_roundtrips(&gw_fixtures::command());
}

#[test]
fn json_keys_are_camel_case_everywhere() {
    let mut all = Vec::new();
    keys(&to_json_value(&gw_fixtures::event()), &mut all);
    keys(&to_json_value(&gw_fixtures::command()), &mut all);
    keys(&to_json_value(&gw_fixtures::gateway_stats()), &mut all);
    keys(
        &to_json_value(&gw_fixtures::gateway_configuration()),
        &mut all,
    );
    assert!(all.contains(&"gatewayId".to_owned()));
    assert!(all.contains(&"fineTimeSinceGpsEpoch".to_owned()));
    assert!(all.contains(&"loraModulationConfig".to_owned()));
    assert!(
        all.iter().all(|k| !k.contains('_')),
        "snake_case key in {all:?}"
    );
}

#[test]
fn uplink_json_has_chirpstack_value_forms() {
    let v = to_json_value(&gw_fixtures::uplink_frame());
    assert_eq!(
        v["phyPayload"], "QAQDAgGAAAEAAaGyw9Q=",
        "bytes are standard base64"
    );
    assert_eq!(v["txInfo"]["frequency"], 868_100_000);
    assert_eq!(
        v["txInfo"]["modulation"]["lora"]["codeRate"], "CR_4_5",
        "enums are names"
    );
    assert_eq!(v["rxInfo"]["crcStatus"], "CRC_OK");
    assert_eq!(v["rxInfo"]["location"]["source"], "GPS");
    assert_eq!(v["rxInfo"]["uplinkId"], 4_000_000_001_u32);
    assert_eq!(v["rxInfo"]["rssi"], -120);
    assert_eq!(v["rxInfo"]["snr"], -7.25);
    assert_eq!(v["rxInfo"]["context"], "EjRWeA==");
    // pbjson-types writes the UTC offset as `+00:00` rather than `Z`; ChirpStack
    // v4 uses the same crate so writes the same, and proto3 JSON parsers (Go,
    // Python: see gw_python.rs) accept both.
    assert_eq!(v["rxInfo"]["gwTime"], "2023-11-14T22:13:20.000005+00:00");
    assert_eq!(v["rxInfo"]["metadata"], json!({"region": "eu868"}));
    // Zero-valued fields are omitted: board 0, polarizationInversion false.
    assert!(v["rxInfo"].get("board").is_none());
    assert!(
        v["txInfo"]["modulation"]["lora"]
            .get("polarizationInversion")
            .is_none()
    );
    assert!(v.get("txInfoLegacy").is_none());
}

#[test]
fn downlink_json_has_durations_and_oneofs_by_member_name() {
    let v = to_json_value(&gw_fixtures::downlink_frame());
    let rx1 = &v["items"][0]["txInfo"];
    assert_eq!(rx1["timing"], json!({"delay": {"delay": "1s"}}));
    assert_eq!(rx1["modulation"]["lora"]["polarizationInversion"], true);
    let rx2 = &v["items"][1]["txInfo"];
    assert_eq!(
        rx2["timing"],
        json!({"immediately": {}}),
        "an empty oneof member is still present"
    );
    assert_eq!(rx2["power"], -3);
    assert_eq!(
        rx2["modulation"]["fsk"],
        json!({"frequencyDeviation": 25000, "datarate": 50000})
    );

    let ack = to_json_value(&gw_fixtures::downlink_tx_ack());
    assert_eq!(
        ack["items"],
        json!([{"status": "TOO_LATE"}, {"status": "OK"}])
    );

    let stats = to_json_value(&gw_fixtures::gateway_stats());
    assert_eq!(
        stats["txPacketsPerFrequency"],
        json!({"868100000": 1}),
        "integer map keys are strings"
    );
    assert_eq!(stats["dutyCycleStats"]["regulation"], "ETSI_EN_300_220");
    assert_eq!(stats["dutyCycleStats"]["bands"][0]["loadTracked"], "0.056s");
}

#[test]
fn default_values_are_omitted_so_offline_conn_state_is_only_the_gateway_id() {
    let offline = gw::ConnState {
        gateway_id: gw_fixtures::GATEWAY_ID.into(),
        ..Default::default()
    };
    assert_eq!(
        to_json_value(&offline),
        json!({"gatewayId": gw_fixtures::GATEWAY_ID})
    );
    assert_eq!(
        gw::encode(&gw::GetGatewayIdRequest {}, Encoding::Json),
        b"{}"
    );
    assert!(gw::encode(&gw::GetGatewayIdRequest {}, Encoding::Protobuf).is_empty());
}

#[test]
fn json_input_accepts_snake_case_legacy_and_unknown_keys() {
    let payload = br#"{"gateway_id":"0102030405060708","gatewayIdLegacy":"AQIDBAUGBwg=","state":"ONLINE","someFutureField":{"x":1}}"#;
    let state: gw::ConnState = gw::decode_detect(payload).unwrap();
    assert_eq!(state.gateway_id, "0102030405060708");
    assert_eq!(state.gateway_id_legacy, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(state.state(), gw::conn_state::State::Online);
}

#[test]
fn json_input_accepts_enum_numbers() {
    let state: gw::ConnState =
        gw::decode_detect(br#"{"gatewayId":"0102030405060708","state":1}"#).unwrap();
    assert_eq!(state.state(), gw::conn_state::State::Online);
}

#[test]
fn legacy_v3_uplink_fields_roundtrip() {
    let legacy = gw::UplinkFrame {
        phy_payload: vec![0x80, 1, 2, 3, 4],
        tx_info_legacy: Some(gw::UplinkTxInfoLegacy {
            frequency: 868_300_000,
            modulation: gw::common::Modulation::Lora.into(),
            modulation_info: Some(
                gw::uplink_tx_info_legacy::ModulationInfo::LoraModulationInfo(
                    gw::LoraModulationInfo {
                        bandwidth: 125,
                        spreading_factor: 12,
                        code_rate_legacy: "4/5".into(),
                        ..Default::default()
                    },
                ),
            ),
        }),
        rx_info_legacy: Some(gw::UplinkRxInfoLegacy {
            gateway_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            rssi: -100,
            lora_snr: 5.5,
            fine_timestamp_type: gw::FineTimestampType::Plain.into(),
            fine_timestamp: Some(
                gw::uplink_rx_info_legacy::FineTimestamp::PlainFineTimestamp(
                    gw::PlainFineTimestamp {
                        time: Some(gw::Timestamp {
                            seconds: 1,
                            nanos: 2,
                        }),
                    },
                ),
            ),
            uplink_id: vec![0xab; 16],
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_roundtrips(&legacy);
    let v = to_json_value(&legacy);
    assert_eq!(v["rxInfoLegacy"]["fineTimestampType"], "PLAIN");
    assert!(
        v["txInfoLegacy"].get("modulation").is_none(),
        "LORA is 0, the default"
    );
    assert_eq!(
        v["txInfoLegacy"]["loraModulationInfo"]["codeRateLegacy"],
        "4/5"
    );
}

#[test]
fn detect_tells_json_by_a_leading_brace_only() {
    assert_eq!(Encoding::detect(b"{}"), Encoding::Json);
    assert_eq!(Encoding::detect(b" {}"), Encoding::Protobuf);
    assert_eq!(
        Encoding::detect(&gw::encode(
            &gw_fixtures::uplink_frame(),
            Encoding::Protobuf
        )),
        Encoding::Protobuf
    );
}

#[test]
fn malformed_payloads_are_errors_naming_encoding_and_message() {
    let err = gw::decode::<gw::UplinkFrame>(br#"{"phyPayload": 5}"#, Encoding::Json).unwrap_err();
    assert!(matches!(err, DecodeError::Json { .. }));
    assert!(
        err.to_string().starts_with("invalid JSON gw.UplinkFrame:"),
        "{err}"
    );

    // Field 1 length-delimited, claiming 10 bytes where there are 2.
    let err =
        gw::decode::<gw::UplinkFrame>(&[0x0a, 0x0a, 0x01, 0x02], Encoding::Protobuf).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf { .. }));
    assert!(
        err.to_string()
            .starts_with("invalid protobuf gw.UplinkFrame:"),
        "{err}"
    );
}

#[test]
fn envelopes_carry_their_payload_by_oneof_member() {
    let v = to_json_value(&gw_fixtures::event());
    assert_eq!(
        v["uplinkFrame"]["rxInfo"]["gatewayId"],
        gw_fixtures::GATEWAY_ID
    );
    let v = to_json_value(&gw_fixtures::command());
    assert_eq!(v["sendDownlinkFrame"]["downlinkId"], 42);
    let get_location = gw::Command {
        command: Some(gw::command::Command::GetLocation(gw::GetLocationRequest {})),
    };
    assert_eq!(
        gw::encode(&get_location, Encoding::Protobuf),
        [0x22, 0x00],
        "field 4, empty message"
    );
    assert_roundtrips(&get_location);
}
