//! `encode`: the known frames rebuilt from flags, and frames of every type
//! round-tripped through `decode`.

use serde_json::Value;

use super::*;

#[test]
fn encode_rebuilds_the_known_frames() {
    let hello = encode(&[
        "--mtype",
        "unconfirmed-data-up",
        "--dev-addr",
        "01020304",
        "--fcnt",
        "1",
        "--adr",
        "--fport",
        "1",
        "--text",
        "hello",
        "--nwk-s-key",
        NWK_S_KEY,
        "--app-s-key",
        APP_S_KEY,
    ]);
    assert_eq!(hello, HELLO_UPLINK);
    let downlink = encode(&[
        "--mtype",
        "confirmed-data-down",
        "--dev-addr",
        "01020304",
        "--fcnt",
        "76543",
        "--adr",
        "--fport",
        "42",
        "--text",
        "hello lora",
        "--nwk-s-key",
        NWK_S_KEY,
        "--app-s-key",
        APP_S_KEY,
    ]);
    assert_eq!(downlink, HELLO_DOWNLINK);
    let downlink_11 = encode(&[
        "--mtype",
        "unconfirmed-data-down",
        "--lorawan",
        "1.1",
        "--dev-addr",
        "01020304",
        "--fopts",
        "020701",
        "--fport",
        "1",
        "--payload",
        "01020304",
        "--s-nwk-s-int-key",
        S_NWK_S_INT_KEY_11,
        "--nwk-s-enc-key",
        NWK_S_ENC_KEY_11,
        "--app-s-key",
        APP_S_KEY_11,
    ]);
    assert_eq!(downlink_11, DOWNLINK_11);
    let join_request = encode(&[
        "--mtype",
        "join-request",
        "--join-eui",
        "0101010101010101",
        "--dev-eui",
        "0202020202020202",
        "--dev-nonce",
        "0303",
        "--app-key",
        APP_KEY,
    ]);
    assert_eq!(join_request, JOIN_REQUEST);
    let join_accept = encode(&[
        "--mtype",
        "join-accept",
        "--join-nonce",
        "010101",
        "--net-id",
        "020202",
        "--dev-addr",
        "01020304",
        "--app-key",
        APP_KEY,
    ]);
    assert_eq!(join_accept, JOIN_ACCEPT);
}

#[test]
fn join_accept_1_1_with_opt_neg_round_trips() {
    // lrwn's vector: the same bytes as JSIntKey and NwkKey.
    let frame = encode(&[
        "--mtype",
        "join-accept",
        "--join-nonce",
        "010101",
        "--net-id",
        "020202",
        "--dev-addr",
        "01020304",
        "--nwk-key",
        APP_KEY,
        "--js-int-key",
        APP_KEY,
        "--join-eui",
        "0807060504030201",
        "--dev-nonce",
        "0102",
    ]);
    assert_eq!(frame, "207abeea06b02920f11c02d0348fcf1815");
    let base = ["decode", frame.as_str(), "--nwk-key", APP_KEY, "--json"];
    let unchecked = json(&base);
    assert_eq!(unchecked["dl_settings"]["opt_neg"], true);
    assert_eq!(unchecked["mic_check"]["valid"], Value::Null);
    let mut full = base.to_vec();
    full.extend([
        "--js-int-key",
        APP_KEY,
        "--join-eui",
        "0807060504030201",
        "--dev-nonce",
        "0102",
    ]);
    let v = json(&full);
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["mic_check"]["key"], "JSIntKey");
}

#[test]
fn join_accept_with_cf_list_and_derived_js_keys_round_trips() {
    let keys = [
        "--nwk-key",
        APP_KEY,
        "--app-key",
        LORA_RS_APP_KEY,
        "--dev-eui",
        "1122334455667788",
        "--join-eui",
        "0807060504030201",
        "--dev-nonce",
        "0005",
    ];
    let mut args = vec![
        "--mtype",
        "join-accept",
        "--join-nonce",
        "000001",
        "--net-id",
        "000013",
        "--dev-addr",
        "26011bda",
        "--rx1-dr-offset",
        "2",
        "--rx2-dr",
        "8",
        "--rx-delay",
        "5",
        "--cf-list-freqs",
        "867.1,867.3,867500000",
    ];
    args.extend(keys);
    let frame = encode(&args);
    let mut decode = vec!["decode", frame.as_str(), "--json"];
    decode.extend(keys);
    let v = json(&decode);
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["dl_settings"]["rx1_dr_offset"], 2);
    assert_eq!(v["dl_settings"]["rx2_data_rate"], 8);
    assert_eq!(v["rx_delay"]["seconds"], 5);
    assert_eq!(v["cf_list"]["type"], "frequencies");
    assert_eq!(
        v["cf_list"]["frequencies"],
        serde_json::json!([867_100_000, 867_300_000, 867_500_000, 0, 0])
    );
    assert_eq!(v["session_keys"]["lorawan"], "1.1");
    assert!(v["session_keys"]["nwk_s_enc_key"].is_string());
}

#[test]
fn lorawan_1_1_uplink_round_trips_with_both_mic_halves() {
    let keys = [
        "--f-nwk-s-int-key",
        "11111111111111111111111111111111",
        "--s-nwk-s-int-key",
        "22222222222222222222222222222222",
        "--nwk-s-enc-key",
        "33333333333333333333333333333333",
        "--app-s-key",
        "44444444444444444444444444444444",
    ];
    let b1 = ["--conf-fcnt", "5", "--tx-dr", "3", "--tx-ch", "2"];
    let mut args = vec![
        "--mtype",
        "confirmed-data-up",
        "--dev-addr",
        "26011bda",
        "--fcnt",
        "70000",
        "--ack",
        "--fopts",
        "020d",
        "--fport",
        "5",
        "--text",
        "hi",
    ];
    args.extend(keys);
    args.extend(b1);
    let frame = encode(&args);
    let mut decode = vec!["decode", frame.as_str(), "--fcnt", "70000", "--json"];
    decode.extend(keys);
    decode.extend(b1);
    let v = json(&decode);
    assert_eq!(v["lorawan"], "1.1");
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["fcnt_full"], 70000);
    assert_eq!(v["fopts_decrypted"], "020d");
    assert_eq!(v["mac_commands"][1]["name"], "DeviceTimeReq");
    assert_eq!(v["payload"]["text"], "hi");
    // Without the B1 fields the cmacS half no longer matches.
    let mut no_b1 = vec!["decode", frame.as_str(), "--fcnt", "70000", "--json"];
    no_b1.extend(keys);
    assert_eq!(json(&no_b1)["mic_check"]["valid"], false);
}

#[test]
fn rejoin_requests_round_trip() {
    let type_0 = encode(&[
        "--mtype",
        "rejoin-request",
        "--rejoin-type",
        "0",
        "--net-id",
        "000013",
        "--dev-eui",
        "0102030405060708",
        "--rj-count",
        "7",
        "--s-nwk-s-int-key",
        S_NWK_S_INT_KEY_11,
    ]);
    let v = json(&[
        "decode",
        &type_0,
        "--s-nwk-s-int-key",
        S_NWK_S_INT_KEY_11,
        "--json",
    ]);
    assert_eq!(v["mtype"], "RejoinRequest");
    assert_eq!(v["rejoin_type"], 0);
    assert_eq!(v["net_id"], "000013");
    assert_eq!(v["rj_count"], 7);
    assert_eq!(v["mic_check"]["valid"], true);
    let type_1 = encode(&[
        "--mtype",
        "rejoin-request",
        "--rejoin-type",
        "1",
        "--join-eui",
        "0807060504030201",
        "--dev-eui",
        "1122334455667788",
        "--rj-count",
        "3",
        "--nwk-key",
        APP_KEY,
    ]);
    let v = json(&["decode", &type_1, "--nwk-key", APP_KEY, "--json"]);
    assert_eq!(v["rejoin_type"], 1);
    assert_eq!(v["join_eui"], "0807060504030201");
    assert_eq!(v["mic_check"]["key"], "JSIntKey");
    assert_eq!(v["mic_check"]["valid"], true);
}

#[test]
fn decode_json_feeds_encode_json() {
    let decoded = ok(&[
        "decode",
        HELLO_DOWNLINK,
        "--app-s-key",
        APP_S_KEY,
        "--nwk-s-key",
        NWK_S_KEY,
        "--fcnt",
        "76543",
        "--json",
    ]);
    let keys = ["--nwk-s-key", NWK_S_KEY, "--app-s-key", APP_S_KEY];
    let mut args = vec!["encode", "--json", "-"];
    args.extend(keys);
    let out = checked_ok(run_with_stdin(&args, &decoded), &args);
    assert_eq!(out.trim(), HELLO_DOWNLINK);
    // The payload is re-encrypted from its plaintext: change it, and the frame follows.
    let mut spec: Value = serde_json::from_str(&decoded).unwrap();
    spec["payload"] = serde_json::json!({"text": "bye"});
    let out = checked_ok(run_with_stdin(&args, &spec.to_string()), &args);
    let v = json(&[
        "decode",
        out.trim(),
        "--app-s-key",
        APP_S_KEY,
        "--nwk-s-key",
        NWK_S_KEY,
        "--fcnt",
        "76543",
        "--json",
    ]);
    assert_eq!(v["payload"]["text"], "bye");
    assert_eq!(v["mic_check"]["valid"], true);
}

#[test]
fn hand_written_json_file_builds_a_frame() {
    let path = std::env::temp_dir().join(format!("lorawan-cli-test-{}.json", std::process::id()));
    let spec = serde_json::json!({
        "mtype": "UnconfirmedDataUp",
        "dev_addr": "01020304",
        "fctrl": {"adr": true},
        "fcnt": 1,
        "fport": 1,
        "payload": "68656c6c6f",
        "nwk_s_key": NWK_S_KEY,
        "app_s_key": APP_S_KEY,
    });
    std::fs::write(&path, spec.to_string()).unwrap();
    let path_text = path.to_str().unwrap();
    let hex = encode(&["--json", path_text]);
    let b64 = encode(&["--json", path_text, "--base64"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(hex, HELLO_UPLINK);
    assert_eq!(
        json(&["decode", &b64, "--json"])["phy_payload"],
        HELLO_UPLINK
    );
}

#[test]
fn join_frames_round_trip_through_decode_json() {
    let cases = [
        (JOIN_REQUEST, vec![]),
        (JOIN_ACCEPT, vec!["--app-key", APP_KEY]),
        ("c000130000080706050403020107004c522748", vec![]),
    ];
    for (frame, keys) in cases {
        let mut decode = vec!["decode", frame, "--json"];
        decode.extend(&keys);
        let decoded = ok(&decode);
        let mut args = vec!["encode", "--json", "-"];
        args.extend(&keys);
        let out = checked_ok(run_with_stdin(&args, &decoded), &args);
        assert_eq!(out.trim(), frame);
    }
}
