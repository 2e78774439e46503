//! The built `lorawan-cli` binary run on known frames: decode (text and JSON),
//! encode and its round trips through decode, key derivation, air time, region
//! tables, and bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

#[path = "cli/airtime.rs"]
mod airtime;
#[path = "cli/encode.rs"]
mod encode;
#[path = "cli/region.rs"]
mod region;

const BIN: &str = env!("CARGO_BIN_EXE_lorawan-cli");

/// 1.0 "hello" uplink: NwkSKey 02×16, AppSKey 01×16, DevAddr 01020304, FCnt 1.
const HELLO_UPLINK: &str = "400403020180010001a694642615d6c3b582";
/// 1.0 confirmed downlink, FCnt 76543 (the frame carries 0x2aff): "hello lora".
const HELLO_DOWNLINK: &str = "a00403020180ff2a2a0af1a36a05d0125f885d881d49e1";
/// Join-request: JoinEUI 01×8, DevEUI 02×8, DevNonce 0303.
const JOIN_REQUEST: &str = "0001010101010101010202020202020202030309b97b32";
/// 1.0 join-accept: DevAddr 01020304, NetID 020202, JoinNonce 010101.
const JOIN_ACCEPT: &str = "2023cf335489aae3183c0be0baa8dee5f3";
/// lora-rs join-accept under AppKey 00112233…ff.
const LORA_RS_JOIN_ACCEPT: &str = "20493eeb51fba2116f810edb3742975142";
/// 1.1 downlink with encrypted FOpts (lrwn).
const DOWNLINK_11: &str = "600403020103000022ac0a01f0b468ddaa5ed13a";

const NWK_S_KEY: &str = "02020202020202020202020202020202";
const APP_S_KEY: &str = "01010101010101010101010101010101";
const APP_KEY: &str = "0102030405060708090a0b0c0d0e0f10";
const LORA_RS_APP_KEY: &str = "00112233445566778899aabbccddeeff";
const S_NWK_S_INT_KEY_11: &str = "01010101010101010101010101010100";
const NWK_S_ENC_KEY_11: &str = "01010101010101010101010101010200";
const APP_S_KEY_11: &str = "100f0e0d0c0b0a090807060504030201";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run lorawan-cli")
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lorawan-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait lorawan-cli")
}

/// Stdout of a run that must succeed with nothing on stderr.
fn ok(args: &[&str]) -> String {
    checked_ok(run(args), args)
}

fn checked_ok(out: Output, args: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 stdout")
}

/// The JSON object a run prints.
fn json(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("one JSON object")
}

/// Stderr of a run that must fail cleanly: non-zero exit, one line, no panic.
fn fails(args: &[&str]) -> String {
    checked_fails(run(args), args)
}

fn checked_fails(out: Output, args: &[&str]) -> String {
    let stderr = String::from_utf8(out.stderr).expect("UTF-8 stderr");
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.status.code().is_some(), "{args:?} killed by a signal");
    assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr:?}");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    stderr
}

/// The hex frame `encode` prints.
fn encode(args: &[&str]) -> String {
    let mut all = vec!["encode"];
    all.extend(args);
    ok(&all).trim().to_owned()
}

#[test]
fn hello_uplink_text_shows_fields_valid_mic_and_payload() {
    let out = ok(&[
        "decode",
        HELLO_UPLINK,
        "--nwk-s-key",
        NWK_S_KEY,
        "--app-s-key",
        APP_S_KEY,
    ]);
    for fact in [
        "UnconfirmedDataUp",
        "01020304 (NetID type 0",
        "ADR 1",
        "FCnt        1",
        "FPort       1",
        "d6c3b582: valid (NwkSKey)",
        "68656c6c6f \"hello\" (decrypted with AppSKey)",
    ] {
        assert!(out.contains(fact), "missing {fact:?} in\n{out}");
    }
}

#[test]
fn hello_uplink_json_has_every_field() {
    let v = json(&[
        "decode",
        HELLO_UPLINK,
        "--nwk-s-key",
        NWK_S_KEY,
        "--app-s-key",
        APP_S_KEY,
        "--json",
    ]);
    assert_eq!(v["mtype"], "UnconfirmedDataUp");
    assert_eq!(v["direction"], "uplink");
    assert_eq!(v["major"], 0);
    assert_eq!(v["dev_addr"], "01020304");
    assert_eq!(v["dev_addr_info"]["net_id_type"], 0);
    assert_eq!(v["fctrl"]["adr"], true);
    assert_eq!(v["fctrl"]["f_opts_len"], 0);
    assert_eq!(v["fcnt"], 1);
    assert_eq!(v["fcnt_full"], 1);
    assert_eq!(v["fport"], 1);
    assert_eq!(v["frm_payload"], "a694642615");
    assert_eq!(v["mic"], "d6c3b582");
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["mic_check"]["key"], "NwkSKey");
    assert_eq!(v["payload"]["hex"], "68656c6c6f");
    assert_eq!(v["payload"]["text"], "hello");
}

#[test]
fn without_keys_the_mic_is_not_checked() {
    let out = ok(&["decode", HELLO_UPLINK]);
    assert!(out.contains("not checked"), "{out}");
    let v = json(&["decode", HELLO_UPLINK, "--json"]);
    assert_eq!(v["mic_check"]["valid"], Value::Null);
    assert_eq!(v["payload"], Value::Null);
}

#[test]
fn wrong_key_gives_invalid_mic_and_the_computed_one() {
    let v = json(&["decode", HELLO_UPLINK, "--nwk-s-key", APP_S_KEY, "--json"]);
    assert_eq!(v["mic_check"]["valid"], false);
    assert_eq!(v["mic_check"]["computed"].as_str().map(str::len), Some(8));
    assert!(ok(&["decode", HELLO_UPLINK, "--nwk-s-key", APP_S_KEY]).contains("INVALID"));
}

#[test]
fn base64_and_spaced_hex_read_the_same_frame() {
    let bytes: Vec<u8> = (0..HELLO_UPLINK.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&HELLO_UPLINK[i..i + 2], 16).unwrap())
        .collect();
    let b64 = STANDARD.encode(&bytes);
    let spaced: String = bytes
        .iter()
        .map(|b| format!("0x{b:02X} "))
        .collect::<String>();
    for input in [b64.as_str(), spaced.as_str()] {
        let v = json(&["decode", input, "--json"]);
        assert_eq!(v["phy_payload"], HELLO_UPLINK, "{input}");
    }
    let out = run_with_stdin(&["decode", "-", "--json"], &format!("{b64}\n"));
    let v: Value = serde_json::from_str(&checked_ok(out, &["decode", "-"])).unwrap();
    assert_eq!(v["dev_addr"], "01020304");
}

#[test]
fn confirmed_downlink_with_32_bit_fcnt_decrypts() {
    let args = [
        "decode",
        HELLO_DOWNLINK,
        "--app-s-key",
        APP_S_KEY,
        "--nwk-s-key",
        NWK_S_KEY,
        "--fcnt",
        "76543",
    ];
    let out = ok(&args);
    assert!(out.contains("\"hello lora\""), "{out}");
    assert!(out.contains("ConfirmedDataDown"), "{out}");
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = json(&with_json);
    assert_eq!(v["fcnt"], 0x2aff);
    assert_eq!(v["fcnt_full"], 76543);
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["payload"]["text"], "hello lora");
    assert_eq!(v["fctrl"]["f_pending"], false);
}

#[test]
fn join_request_mic_is_valid_with_the_app_key() {
    let out = ok(&["decode", JOIN_REQUEST, "--app-key", APP_KEY]);
    assert!(out.contains("09b97b32: valid (AppKey)"), "{out}");
    let v = json(&["decode", JOIN_REQUEST, "--app-key", APP_KEY, "--json"]);
    assert_eq!(v["mtype"], "JoinRequest");
    assert_eq!(v["join_eui"], "0101010101010101");
    assert_eq!(v["dev_eui"], "0202020202020202");
    assert_eq!(v["dev_nonce"], "0303");
    assert_eq!(v["mic_check"]["valid"], true);
}

#[test]
fn join_accept_1_0_decrypts_to_its_fields() {
    let out = ok(&["decode", JOIN_ACCEPT, "--app-key", APP_KEY]);
    for fact in ["01020304", "020202", "010101", "valid (AppKey)"] {
        assert!(out.contains(fact), "missing {fact:?} in\n{out}");
    }
    let v = json(&["decode", JOIN_ACCEPT, "--app-key", APP_KEY, "--json"]);
    assert_eq!(v["dev_addr"], "01020304");
    assert_eq!(v["home_net_id"], "020202");
    assert_eq!(v["join_nonce"], "010101");
    assert_eq!(v["dl_settings"]["opt_neg"], false);
    assert_eq!(v["rx_delay"]["seconds"], 1);
    assert_eq!(v["cf_list"], Value::Null);
    assert_eq!(v["mic_check"]["valid"], true);
    let encrypted = json(&["decode", JOIN_ACCEPT, "--json"]);
    assert_eq!(encrypted["mic_check"]["valid"], Value::Null);
    assert_eq!(encrypted["dev_addr"], Value::Null);
}

#[test]
fn lorawan_1_1_downlink_decrypts_fopts_to_link_check_ans() {
    let args = [
        "decode",
        DOWNLINK_11,
        "--s-nwk-s-int-key",
        S_NWK_S_INT_KEY_11,
        "--nwk-s-enc-key",
        NWK_S_ENC_KEY_11,
        "--app-s-key",
        APP_S_KEY_11,
        "--lorawan",
        "1.1",
    ];
    let out = ok(&args);
    assert!(out.contains("LinkCheckAns: margin 7, gw_cnt 1"), "{out}");
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = json(&with_json);
    assert_eq!(v["lorawan"], "1.1");
    assert_eq!(v["mic_check"]["valid"], true);
    assert_eq!(v["mic_check"]["key"], "SNwkSIntKey");
    assert_eq!(v["fopts"], "22ac0a");
    assert_eq!(v["fopts_decrypted"], "020701");
    assert_eq!(v["payload"]["hex"], "01020304");
    let mac = &v["mac_commands"][0];
    assert_eq!(mac["name"], "LinkCheckAns");
    assert_eq!(mac["source"], "FOpts");
    assert_eq!(mac["fields"]["margin"], 7);
    assert_eq!(mac["fields"]["gw_cnt"], 1);
}

#[test]
fn fport_0_payload_is_read_as_mac_commands() {
    let frame = encode(&[
        "--mtype",
        "unconfirmed-data-down",
        "--dev-addr",
        "26011bda",
        "--fport",
        "0",
        "--payload",
        "0351070001 06",
        "--nwk-s-key",
        NWK_S_KEY,
    ]);
    let v = json(&["decode", &frame, "--nwk-s-key", NWK_S_KEY, "--json"]);
    assert_eq!(v["payload"]["key"], "NwkSKey");
    let names: Vec<&str> = v["mac_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["LinkADRReq", "DevStatusReq"]);
    assert_eq!(v["mac_commands"][0]["source"], "FRMPayload");
    assert_eq!(v["mac_commands"][0]["fields"]["data_rate"], 5);
}

#[test]
fn session_keys_1_0_match_lora_rs() {
    let expected = [
        ("nwk_s_key", "406b1337d80753820540e280f81299e9"),
        ("app_s_key", "4f5c409751841b6dfecbd38402237942"),
    ];
    // DevNonce bytes on the wire are cc dd: the number 0xddcc.
    let from_flags = json(&[
        "keys",
        "--app-key",
        LORA_RS_APP_KEY,
        "--join-nonce",
        "570bc7",
        "--net-id",
        "221101",
        "--dev-nonce",
        "ddcc",
        "--json",
    ]);
    let from_frame = json(&[
        "keys",
        "--app-key",
        LORA_RS_APP_KEY,
        "--join-accept",
        LORA_RS_JOIN_ACCEPT,
        "--dev-nonce",
        "ddcc",
        "--json",
    ]);
    let from_decode = json(&[
        "decode",
        LORA_RS_JOIN_ACCEPT,
        "--app-key",
        LORA_RS_APP_KEY,
        "--dev-nonce",
        "ddcc",
        "--json",
    ]);
    for (name, key) in expected {
        assert_eq!(from_flags[name], key);
        assert_eq!(from_frame[name], key);
        assert_eq!(from_decode["session_keys"][name], key);
    }
    assert_eq!(from_flags["lorawan"], "1.0");
    let text = ok(&[
        "keys",
        "--app-key",
        LORA_RS_APP_KEY,
        "--join-accept",
        LORA_RS_JOIN_ACCEPT,
        "--dev-nonce",
        "ddcc",
    ]);
    assert!(
        text.contains("NwkSKey      406b1337d80753820540e280f81299e9"),
        "{text}"
    );
}

#[test]
fn session_keys_1_1_match_lrwn() {
    let v = json(&[
        "keys",
        "--nwk-key",
        "01020304050607080102030405060708",
        "--app-key",
        "00000000000000000000000000000000",
        "--join-nonce",
        "010000",
        "--join-eui",
        "0807060504030201",
        "--dev-nonce",
        "0102",
        "--dev-eui",
        "0807060504030201",
        "--json",
    ]);
    assert_eq!(v["lorawan"], "1.1");
    assert_eq!(v["app_s_key"], "01621215d1ca08febf0c602cc2ad90fa");
    assert_eq!(v["f_nwk_s_int_key"], "537f8aae896c79e015d102d06286354e");
    assert_eq!(v["s_nwk_s_int_key"], "589498993092cfdb5fd2e02ac7510bf1");
    assert_eq!(v["nwk_s_enc_key"], "9898283c4f66eb6c6fd5165882046c40");
    assert_eq!(v["js_enc_key"], "18cfe1da209c63a81e8aa4f3934e0e74");
    assert_eq!(v["js_int_key"], "3faf4a732f65bdcaa0b2429db14db94a");
}

#[test]
fn bad_hex_is_one_line_error() {
    let e = fails(&["decode", "4004030201xyz"]);
    assert!(e.contains("hex"), "{e}");
    let e = fails(&["decode", "40040"]);
    assert!(e.contains("odd number of hex digits"), "{e}");
}

#[test]
fn truncated_frame_is_one_line_error() {
    let e = fails(&["decode", "4004030201"]);
    assert!(e.contains("truncated"), "{e}");
    let e = fails(&["decode", &JOIN_REQUEST[..40]]);
    assert!(e.contains("join-request truncated"), "{e}");
}

#[test]
fn wrong_key_length_names_the_flag() {
    let e = fails(&[
        "decode",
        HELLO_UPLINK,
        "--app-s-key",
        "010101010101010101010101010101",
    ]);
    assert_eq!(e, "error: --app-s-key: expected 32 hex digits, got 30\n");
    let e = fails(&["keys", "--app-key", "00"]);
    assert!(e.starts_with("error: --app-key: "), "{e}");
}

#[test]
fn usage_and_build_errors_are_one_line() {
    for args in [
        &["decode"][..],
        &["decode", HELLO_UPLINK, "--no-such-flag"],
        &["decode", HELLO_UPLINK, "--lorawan", "2.0"],
        &["decode", HELLO_UPLINK, "--fcnt", "99999999999"],
        &[
            "decode",
            HELLO_UPLINK,
            "--lorawan",
            "1.1",
            "--nwk-s-key",
            NWK_S_KEY,
        ],
        &["decode", ""],
        &["encode"],
        &["encode", "--mtype", "sideways"],
        &["encode", "--mtype", "data-up", "--dev-addr", "01020304"],
        &["encode", "--mtype", "join-accept", "--join-nonce", "01"],
        &["encode", "--json", "/nonexistent/spec.json"],
        &[
            "encode",
            "--mtype",
            "data-up",
            "--dev-addr",
            "01020304",
            "--fopts",
            "0102030405060708090a0b0c0d0e0f10",
            "--mic",
            "00000000",
        ],
        &["keys"],
        &[
            "keys",
            "--app-key",
            APP_KEY,
            "--join-accept",
            JOIN_REQUEST,
            "--dev-nonce",
            "0001",
        ],
    ] {
        fails(args);
    }
    let out = run_with_stdin(&["encode", "--json", "-"], "{not json");
    checked_fails(out, &["encode", "--json", "-"]);
}

#[test]
fn arbitrary_input_never_panics() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..40 {
        let len = (next() % 40) as usize;
        let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = frame.first_mut() {
            *first &= 0xfc;
        }
        let hex: String = frame.iter().map(|b| format!("{b:02x}")).collect();
        let input = if i % 2 == 0 {
            hex
        } else {
            STANDARD.encode(&frame)
        };
        let out = run(&[
            "decode",
            &input,
            "--app-key",
            APP_KEY,
            "--nwk-s-key",
            NWK_S_KEY,
            "--app-s-key",
            APP_S_KEY,
            "--dev-nonce",
            "0001",
        ]);
        if !out.status.success() {
            checked_fails(out, &["decode", &input]);
        }
    }
}
