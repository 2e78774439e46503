//! Integrations: the device events the network server hands to applications,
//! and the downlinks applications enqueue, in ChirpStack v4's wire format.
//!
//! The messages are ChirpStack's `integration` package, generated at build
//! time from our own `proto/integration/integration.proto` (same package,
//! message and field names and numbers); the `gw` and `common` messages they
//! embed are packet-forwarder's [`gw`](packet_forwarder::gw) types. Both
//! encodings are ChirpStack's:
//!
//! - protobuf, through [`prost::Message`] or [`encode`] / [`decode`];
//! - ChirpStack's integration JSON: proto3 JSON as pbjson writes it, with
//!   camelCase keys, enums as names, bytes as base64, and — unlike the `gw`
//!   messages — scalar, string, bytes, list and map fields written even at
//!   their default value (`"fPort":0`, `"tags":{}`), because ChirpStack
//!   builds this package with pbjson's `emit_fields`. Absent sub-messages
//!   (`object`, `relayRxInfo`) are left out; nested `gw` messages omit
//!   defaults. Unknown keys are ignored and snake_case keys accepted on
//!   input.
//!
//! Sans-IO, like the rest of the crate: the builders take plain values and
//! `now`, [`encode`] gives the bytes, [`event_topic`] and [`http_event_url`]
//! say where they go, and [`parse_downlink_command`] turns an application's
//! `command/down` message into a [`QueueItem`](crate::model::QueueItem). The
//! driver publishes and stores.
//!
//! | event | message | MQTT topic (default template) |
//! |---|---|---|
//! | `up` | [`UplinkEvent`] | `application/{application_id}/device/{dev_eui}/event/up` |
//! | `join` | [`JoinEvent`] | `…/event/join` |
//! | `ack` | [`AckEvent`] | `…/event/ack` |
//! | `txack` | [`TxAckEvent`] | `…/event/txack` |
//! | `log` | [`LogEvent`] | `…/event/log` |
//! | `status` | [`StatusEvent`] | `…/event/status` |
//! | `location` | [`LocationEvent`] | `…/event/location` |
//! | `integration` | [`IntegrationEvent`] | `…/event/integration` |
//! | command `down` | [`DownlinkCommand`] | `application/{application_id}/device/{dev_eui}/command/down` |
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use lorawan::{DevAddr, Eui64};
//! use ns_core::integration::{self, Encoding, Event, Uplink, DEFAULT_EVENT_TOPIC};
//! use ns_core::model::{Application, Device, DeviceProfile, Tenant};
//! use packet_forwarder::gw;
//! use uuid::Uuid;
//!
//! let tenant = Tenant::new("acme");
//! let application = Application::new(tenant.id, "meters");
//! let profile = DeviceProfile::new(
//!     tenant.id,
//!     "eu868-1.0.3",
//!     lorawan::region::Region::Eu868,
//!     ns_core::model::MacVersion::V1_0_3,
//!     lorawan::region::Revision::Rp002_1_0_3,
//! );
//! let dev_eui = Eui64::from_u64(0x0102_0304_0506_0708);
//! let device = Device::new(dev_eui, application.id, profile.id, "meter-1");
//!
//! let event = integration::uplink_event(
//!     integration::device_info(&tenant, &application, &profile, &device),
//!     Uplink {
//!         deduplication_id: Uuid::nil(),
//!         time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
//!         dev_addr: DevAddr::from_u32(0x0100_0001),
//!         adr: true,
//!         dr: 5,
//!         f_cnt: 7,
//!         f_port: 1,
//!         confirmed: false,
//!         data: vec![0xaa],
//!         rx_info: vec![gw::UplinkRxInfo { gateway_id: "0101010101010101".into(), ..Default::default() }],
//!         tx_info: gw::UplinkTxInfo { frequency: 868_100_000, ..Default::default() },
//!         region_config_id: "eu868".into(),
//!     },
//! );
//! let event = Event::from(event);
//! assert_eq!(
//!     event.topic(DEFAULT_EVENT_TOPIC),
//!     format!("application/{}/device/0102030405060708/event/up", application.id),
//! );
//! let json = String::from_utf8(event.encode(Encoding::Json)).unwrap();
//! assert!(json.contains(r#""devAddr":"01000001","adr":true,"dr":5,"fCnt":7,"fPort":1,"confirmed":false,"data":"qg==""#));
//!
//! let Event::Up(up) = event else { unreachable!() };
//! let bytes = integration::encode(&up, Encoding::Protobuf);
//! assert_eq!(integration::decode::<integration::UplinkEvent>(&bytes, Encoding::Protobuf)?, up);
//! # Ok::<(), integration::DecodeError>(())
//! ```

mod builders;
mod command;
mod event;
mod http;
mod mqtt;
// No outer doc here: with one, rustdoc resolves the links of the module's
// own `//!` doc from this scope (rust-lang/rust#134904).
pub mod publish;

/// Generated code: prost structs plus pbjson serde impls of the
/// `integration` package.
mod generated {
    // Generated code: the field docs come from the .proto comments, but prost
    // leaves some items (serde impl helpers) undocumented, and clippy's style
    // lints are not ours to fix in generated code.
    #![allow(
        missing_docs,
        unreachable_pub,
        clippy::all,
        clippy::pedantic,
        clippy::use_self
    )]
    include!(concat!(env!("OUT_DIR"), "/integration.rs"));
    include!(concat!(env!("OUT_DIR"), "/integration.serde.rs"));
}

pub use builders::{
    Uplink, ack_event, device_info, join_event, location_event, log_event, status_event,
    tx_ack_event, uplink_event,
};
pub use command::{CommandError, parse_downlink_command, queue_item};
pub use event::{Event, EventKind, UnknownEventKind};
pub use generated::*;
pub use http::{content_type, http_endpoints, http_event_url};
pub use mqtt::{
    CommandTopic, DEFAULT_COMMAND_TOPIC, DEFAULT_EVENT_TOPIC, command_subscription, event_topic,
};
/// The encodings, and the decoding error, are the `gw` messages' own: an
/// integration is configured for JSON or protobuf exactly as a gateway
/// backend is.
pub use packet_forwarder::gw::{DecodeError, Encoding};
/// The well-known types the messages use, with their proto3 JSON serde impls.
pub use pbjson_types::{Struct, Timestamp, Value};

use serde::{Serialize, de::DeserializeOwned};
use std::time::{Duration, SystemTime};

/// The encoded `FileDescriptorSet` of `integration` and its imports (`gw`,
/// `common`, the well-known types), for reflection and for checking our
/// definitions against others.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/integration_descriptor.bin"));

/// An `integration` message: protobuf via prost, JSON via pbjson's serde
/// impls. Implemented by every generated message type (and, as it only
/// names those traits, by the `gw` messages too).
pub trait IntegrationMessage:
    prost::Message + prost::Name + Default + Serialize + DeserializeOwned
{
}

impl<T: prost::Message + prost::Name + Default + Serialize + DeserializeOwned> IntegrationMessage
    for T
{
}

/// Encodes a message as ChirpStack's integrations do: protobuf, or compact
/// JSON.
///
/// ```
/// use ns_core::integration::{self, Encoding, JoinEvent};
/// let join = JoinEvent { dev_addr: "01000001".into(), ..Default::default() };
/// assert_eq!(
///     integration::encode(&join, Encoding::Json),
///     br#"{"deduplicationId":"","devAddr":"01000001","regionConfigId":""}"#,
/// );
/// assert_eq!(integration::encode(&join, Encoding::Protobuf), b"\x22\x0801000001");
/// ```
#[must_use]
pub fn encode<M: IntegrationMessage>(message: &M, encoding: Encoding) -> Vec<u8> {
    packet_forwarder::gw::encode(message, encoding)
}

/// Decodes a message from the given encoding.
///
/// # Errors
/// [`DecodeError`] naming the encoding and the expected message when the
/// payload is malformed.
pub fn decode<M: IntegrationMessage>(payload: &[u8], encoding: Encoding) -> Result<M, DecodeError> {
    packet_forwarder::gw::decode(payload, encoding)
}

/// A protobuf `Timestamp` of a system time (negative seconds before 1970).
fn timestamp(time: SystemTime) -> Timestamp {
    let (seconds, nanos) = match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos() as i32),
        Err(e) => {
            let before = e.duration();
            // -1.25 s is seconds -2, nanos 750_000_000: nanos never negative.
            let nanos = before.subsec_nanos();
            let seconds = -(before.as_secs() as i64) - i64::from(nanos > 0);
            let nanos = if nanos > 0 { 1_000_000_000 - nanos } else { 0 };
            (seconds, nanos as i32)
        }
    };
    Timestamp { seconds, nanos }
}

/// The first and last second of protobuf `Timestamp`'s range, years 1 to
/// 9999 (what storage and JSON can hold).
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// The system time of a protobuf `Timestamp`, if it is a valid one
/// (seconds within years 1–9999, nanos within 0..1e9).
fn system_time(ts: &Timestamp) -> Option<SystemTime> {
    if !TIMESTAMP_SECONDS.contains(&ts.seconds) {
        return None;
    }
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    if ts.seconds >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(ts.seconds.unsigned_abs(), nanos))
    } else {
        SystemTime::UNIX_EPOCH
            .checked_sub(Duration::from_secs(ts.seconds.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

#[cfg(test)]
mod wire_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_on_both_sides_of_the_epoch() {
        for (offset_ns, seconds, nanos) in [
            (0i128, 0i64, 0i32),
            (1_700_000_000_123_456_789, 1_700_000_000, 123_456_789),
            (-1_250_000_000, -2, 750_000_000),
            (-3_000_000_000, -3, 0),
        ] {
            let time = if offset_ns >= 0 {
                SystemTime::UNIX_EPOCH + Duration::from_nanos(offset_ns as u64)
            } else {
                SystemTime::UNIX_EPOCH - Duration::from_nanos((-offset_ns) as u64)
            };
            let ts = timestamp(time);
            assert_eq!((ts.seconds, ts.nanos), (seconds, nanos), "{offset_ns}");
            assert_eq!(system_time(&ts), Some(time), "{offset_ns}");
        }
    }

    #[test]
    fn timestamp_with_nanos_out_of_range_is_not_a_time() {
        for nanos in [-1, 1_000_000_000] {
            assert_eq!(system_time(&Timestamp { seconds: 0, nanos }), None);
        }
    }

    #[test]
    fn descriptor_set_holds_the_integration_package_and_its_imports() {
        use prost::Message as _;
        let fds = pbjson_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
        let names: Vec<_> = fds.file.iter().filter_map(|f| f.name.as_deref()).collect();
        for name in [
            "integration/integration.proto",
            "gw/gw.proto",
            "common/common.proto",
            "google/protobuf/struct.proto",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
}
