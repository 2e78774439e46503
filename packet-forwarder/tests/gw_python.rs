//! Cross-check of our `gw` and `common` messages against ChirpStack's official
//! definitions, the PyPI `chirpstack-api` package, driven through
//! tests/python/check_gw.py:
//!
//! 1. Python writes a fully populated instance of every message type (one per
//!    oneof member) in protobuf and JSON; we decode each, check that both
//!    encodings give the same message, and write it back in both encodings;
//!    Python checks that what we wrote equals what it wrote.
//! 2. We write hand-made messages (tests/gw_fixtures); Python decodes them and
//!    compares them with the same messages built with its own definitions.
//!
//! Needs `python3` with `chirpstack_api` (scripts/ensure-services installs it);
//! without them this test fails rather than skips, since it is the proof of
//! wire compatibility.

mod gw_fixtures;
#[path = "support/python_check.rs"]
mod python_check;

use std::{collections::BTreeSet, fs, path::Path};

use packet_forwarder::gw::{self, Encoding, GwMessage, common};
use python_check::{python_fixtures, run_python, scratch_dir, write_encodings};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/check_gw.py");

/// Decodes `dir/py/{stem}.pb` and `.json` as `M`, checks they agree, and
/// writes both encodings of it to `dir/rust/`.
fn roundtrip<M: GwMessage + PartialEq + std::fmt::Debug>(dir: &Path, stem: &str) {
    let read = |ext: &str| fs::read(dir.join("py").join(format!("{stem}.{ext}"))).unwrap();
    let pb = read("pb");
    let from_pb: M =
        gw::decode(&pb, Encoding::Protobuf).unwrap_or_else(|e| panic!("{stem}.pb: {e}"));
    let json = read("json");
    assert_eq!(Encoding::detect(&json), Encoding::Json, "{stem}.json");
    let from_json: M = gw::decode_detect(&json).unwrap_or_else(|e| panic!("{stem}.json: {e}"));
    assert_eq!(
        from_pb, from_json,
        "{stem}: protobuf and JSON from Python decode differently"
    );
    // Field-less messages (GetGatewayIdRequest, …) encode to nothing.
    assert!(
        pb.is_empty() || from_pb != M::default(),
        "{stem}: nothing decoded"
    );

    let ours_json = gw::encode(&from_pb, Encoding::Json);
    let again: M = gw::decode(&ours_json, Encoding::Json).unwrap();
    assert_eq!(again, from_pb, "{stem}: our JSON does not round-trip");

    write_encodings(
        &dir.join("rust"),
        stem,
        &gw::encode(&from_pb, Encoding::Protobuf),
        &ours_json,
    );
}

macro_rules! dispatch {
    ($($pkg:literal => [$($ty:path),* $(,)?]),* $(,)?) => {
        /// Full protobuf names of every message type we define.
        fn all_message_names() -> BTreeSet<String> {
            let mut names = BTreeSet::new();
            $($( names.insert(<$ty as prost::Name>::full_name()); )*)*
            names
        }
        fn roundtrip_by_name(dir: &Path, full_name: &str, stem: &str) {
            $($(
                if full_name == <$ty as prost::Name>::full_name() {
                    return roundtrip::<$ty>(dir, stem);
                }
            )*)*
            panic!("{full_name}: Python has this message type, we do not");
        }
    };
}

dispatch! {
    "common" => [
        common::Location, common::KeyEnvelope, common::Metric, common::MetricDataset,
        common::JoinServerContext,
    ],
    "gw" => [
        gw::Event, gw::Command, gw::MeshEvent, gw::MeshEventItem, gw::MeshCommand,
        gw::MeshCommandItem, gw::Modulation, gw::UplinkTxInfoLegacy, gw::UplinkTxInfo,
        gw::LoraModulationInfo, gw::FskModulationInfo, gw::LrFhssModulationInfo,
        gw::EncryptedFineTimestamp, gw::PlainFineTimestamp, gw::GatewayStats,
        gw::PerModulationCount, gw::DutyCycleStats, gw::DutyCycleBand, gw::UplinkRxInfoLegacy,
        gw::UplinkRxInfo, gw::DownlinkTxInfoLegacy, gw::DownlinkTxInfo, gw::Timing,
        gw::ImmediatelyTimingInfo, gw::DelayTimingInfo, gw::GpsEpochTimingInfo, gw::UplinkFrame,
        gw::UplinkFrameSet, gw::DownlinkFrame, gw::DownlinkFrameItem, gw::DownlinkTxAck,
        gw::DownlinkTxAckItem, gw::GatewayConfiguration, gw::GetGatewayIdRequest,
        gw::GetGatewayIdResponse, gw::GetLocationRequest, gw::GetLocationResponse,
        gw::ChannelConfiguration, gw::LoraModulationConfig, gw::FskModulationConfig,
        gw::GatewayCommandExecRequest, gw::GatewayCommandExecResponse,
        gw::RawPacketForwarderEvent, gw::RawPacketForwarderCommand, gw::ConnState,
        gw::MeshEventHeartbeat, gw::MeshEventHeartbeatRelayPath, gw::MeshEventProprietary,
        gw::MeshCommandProprietary,
    ],
}

fn write_authored<M: GwMessage>(dir: &Path, message: &M) {
    write_encodings(
        &dir.join("authored"),
        &M::full_name(),
        &gw::encode(message, Encoding::Protobuf),
        &gw::encode(message, Encoding::Json),
    );
}

#[test]
fn every_gw_message_matches_chirpstack_api_in_protobuf_and_json() {
    let dir = scratch_dir("packet-forwarder-gw-python", &["py", "rust", "authored"]);
    let dir_arg = dir.to_str().unwrap();
    let script = Path::new(SCRIPT);

    run_python(script, &["encode", dir_arg]);

    let mut seen = BTreeSet::new();
    let mut files = 0;
    for (stem, full_name) in python_fixtures(&dir) {
        roundtrip_by_name(&dir, &full_name, &stem);
        seen.insert(full_name);
        files += 1;
    }
    assert_eq!(
        seen,
        all_message_names(),
        "message types: Python's set differs from ours"
    );
    assert_eq!(seen.len(), 54, "common has 5 and gw has 49 message types");
    assert!(
        files > seen.len(),
        "every oneof member is covered by its own fixture"
    );

    write_authored(&dir, &gw_fixtures::uplink_frame());
    write_authored(&dir, &gw_fixtures::downlink_frame());
    write_authored(&dir, &gw_fixtures::downlink_tx_ack());
    write_authored(&dir, &gw_fixtures::gateway_stats());
    write_authored(&dir, &gw_fixtures::gateway_configuration());
    write_authored(&dir, &gw_fixtures::conn_state());
    write_authored(&dir, &gw_fixtures::event());
    write_authored(&dir, &gw_fixtures::command());

    run_python(script, &["verify", dir_arg]);
    let _ = fs::remove_dir_all(&dir);
}
