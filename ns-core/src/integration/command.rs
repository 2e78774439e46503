//! Downlink commands from applications (`command/down`): decoded, checked
//! and turned into queue items.

use std::str::FromStr;
use std::time::SystemTime;

use lorawan::{Eui64, ParseHexError};
use uuid::Uuid;

use super::{CommandTopic, DecodeError, DownlinkCommand, Encoding, decode, system_time};
use crate::model::QueueItem;

/// Why an application's command was not accepted. Every variant is the
/// sender's fault (a topic or payload it got wrong); none changes any state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The topic does not have the command topic template's shape.
    #[error("topic {topic:?} does not match the command topic template {template:?}")]
    Topic {
        /// The topic received.
        topic: String,
        /// The template it was read against.
        template: String,
    },
    /// The topic's application ID is not a UUID.
    #[error("application ID {value:?} in the command topic is not a UUID: {source}")]
    ApplicationId {
        /// The text found.
        value: String,
        /// What the UUID parser reported.
        #[source]
        source: uuid::Error,
    },
    /// A DevEUI (of the topic or of the payload) is not an EUI-64.
    #[error("DevEUI {value:?} is not an EUI-64: {source}")]
    DevEui {
        /// The text found.
        value: String,
        /// What the hex parser reported.
        #[source]
        source: ParseHexError,
    },
    /// The topic names a command other than `down`.
    #[error("unknown command {0:?}: only \"down\" is supported")]
    UnknownCommand(String),
    /// The payload is not a `DownlinkCommand` in the expected encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The payload is for another device than the topic.
    #[error("the payload's DevEUI {payload} does not match the topic's {topic}")]
    DevEuiMismatch {
        /// The topic's DevEUI.
        topic: Eui64,
        /// The payload's DevEUI.
        payload: Eui64,
    },
    /// The payload's `id` is neither empty nor a UUID.
    #[error("queue item ID {value:?} is not a UUID: {source}")]
    QueueItemId {
        /// The text found.
        value: String,
        /// What the UUID parser reported.
        #[source]
        source: uuid::Error,
    },
    /// The FPort is 0 (MAC commands only) or above 223 (reserved).
    #[error("FPort {0} is outside 1..=223")]
    FPort(u32),
    /// The payload is an `object` for the device profile's codec.
    #[error(
        "the payload is an `object`, which needs a payload codec, and codecs are not supported \
         yet: send the bytes base64-encoded in `data` instead"
    )]
    CodecNotSupported,
    /// `expires_at` is not a valid timestamp.
    #[error("expires_at {seconds} s {nanos} ns is not a valid timestamp")]
    ExpiresAt {
        /// Its seconds.
        seconds: i64,
        /// Its nanoseconds.
        nanos: i32,
    },
}

/// Reads an application's message on a command topic into the queue item
/// to enqueue, as ChirpStack's MQTT integration does: the command must be
/// `down`, the payload a [`DownlinkCommand`] in `encoding` (the
/// integration's configured one; [`Encoding::detect`] to accept both) for
/// the topic's DevEUI, and it must pass [`queue_item`]'s checks.
///
/// The driver still has to check that the device exists and belongs to
/// `topic.application_id` before enqueuing.
///
/// ```
/// use std::time::SystemTime;
/// use ns_core::integration::{parse_downlink_command, CommandError, CommandTopic, Encoding, DEFAULT_COMMAND_TOPIC};
///
/// let topic = CommandTopic::parse(
///     DEFAULT_COMMAND_TOPIC,
///     "application/00000000-0000-0000-0000-000000000001/device/0102030405060708/command/down",
/// )?;
/// let payload = br#"{"devEui":"0102030405060708","confirmed":true,"fPort":10,"data":"AQID"}"#;
/// let item = parse_downlink_command(&topic, payload, Encoding::Json, SystemTime::now())?;
/// assert_eq!((item.f_port, item.confirmed, item.data), (10, true, vec![1, 2, 3]));
///
/// let payload = br#"{"devEui":"0102030405060708","fPort":10,"object":{"led":true}}"#;
/// let err = parse_downlink_command(&topic, payload, Encoding::Json, SystemTime::now()).unwrap_err();
/// assert!(matches!(err, CommandError::CodecNotSupported));
/// # Ok::<(), CommandError>(())
/// ```
///
/// # Errors
/// [`CommandError`] saying what was wrong with the command.
pub fn parse_downlink_command(
    topic: &CommandTopic,
    payload: &[u8],
    encoding: Encoding,
    now: SystemTime,
) -> Result<QueueItem, CommandError> {
    if topic.command != "down" {
        return Err(CommandError::UnknownCommand(topic.command.clone()));
    }
    let command: DownlinkCommand = decode(payload, encoding)?;
    let item = queue_item(&command, now)?;
    if item.dev_eui != topic.dev_eui {
        return Err(CommandError::DevEuiMismatch {
            topic: topic.dev_eui,
            payload: item.dev_eui,
        });
    }
    Ok(item)
}

/// The queue item a [`DownlinkCommand`] asks for, enqueued at `now`:
/// its `id` (a new UUID when empty), DevEUI, FPort (1–223), confirmed flag,
/// `data` and `expires_at`.
///
/// ```
/// use std::time::SystemTime;
/// use ns_core::integration::{queue_item, CommandError, DownlinkCommand};
///
/// let command = DownlinkCommand {
///     dev_eui: "0102030405060708".into(),
///     f_port: 224,
///     ..Default::default()
/// };
/// assert!(matches!(queue_item(&command, SystemTime::now()), Err(CommandError::FPort(224))));
/// ```
///
/// # Errors
/// [`CommandError`] for an invalid DevEUI, ID, FPort or `expires_at`, and
/// [`CommandError::CodecNotSupported`] for an `object` payload.
pub fn queue_item(command: &DownlinkCommand, now: SystemTime) -> Result<QueueItem, CommandError> {
    let dev_eui = Eui64::from_str(&command.dev_eui).map_err(|source| CommandError::DevEui {
        value: command.dev_eui.clone(),
        source,
    })?;
    let id = if command.id.is_empty() {
        Uuid::new_v4()
    } else {
        Uuid::from_str(&command.id).map_err(|source| CommandError::QueueItemId {
            value: command.id.clone(),
            source,
        })?
    };
    let f_port = u8::try_from(command.f_port)
        .ok()
        .filter(|port| (1..=223).contains(port))
        .ok_or(CommandError::FPort(command.f_port))?;
    if command.object.is_some() {
        return Err(CommandError::CodecNotSupported);
    }
    let expires_at = command
        .expires_at
        .as_ref()
        .map(|ts| {
            system_time(ts).ok_or(CommandError::ExpiresAt {
                seconds: ts.seconds,
                nanos: ts.nanos,
            })
        })
        .transpose()?;
    Ok(QueueItem {
        id,
        dev_eui,
        f_port,
        confirmed: command.confirmed,
        data: command.data.clone(),
        is_pending: false,
        f_cnt_down: None,
        timeout_after: None,
        expires_at,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::integration::{DEFAULT_COMMAND_TOPIC, Struct, Timestamp, encode};

    const TOPIC: &str =
        "application/00000000-0000-0000-0000-000000000001/device/0102030405060708/command/down";

    fn topic() -> CommandTopic {
        CommandTopic::parse(DEFAULT_COMMAND_TOPIC, TOPIC).unwrap()
    }

    fn command() -> DownlinkCommand {
        DownlinkCommand {
            id: "7f1c7a4e-63d5-4f5c-9a59-3b1d1c2b9e10".into(),
            dev_eui: "0102030405060708".into(),
            confirmed: true,
            f_port: 10,
            data: vec![1, 2, 3],
            object: None,
            expires_at: Some(Timestamp {
                seconds: 1_700_000_060,
                nanos: 0,
            }),
        }
    }

    #[test]
    fn protobuf_and_json_commands_give_the_same_queue_item() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let want = QueueItem {
            id: Uuid::from_str("7f1c7a4e-63d5-4f5c-9a59-3b1d1c2b9e10").unwrap(),
            dev_eui: Eui64::from_u64(0x0102_0304_0506_0708),
            f_port: 10,
            confirmed: true,
            data: vec![1, 2, 3],
            is_pending: false,
            f_cnt_down: None,
            timeout_after: None,
            expires_at: Some(now + Duration::from_secs(60)),
            created_at: now,
        };
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            let payload = encode(&command(), encoding);
            assert_eq!(
                parse_downlink_command(&topic(), &payload, encoding, now).unwrap(),
                want,
                "{encoding:?}"
            );
        }
    }

    #[test]
    fn json_command_as_applications_write_it_is_accepted() {
        let payload = br#"{"devEui":"0102030405060708","confirmed":false,"fPort":1,"data":"qg=="}"#;
        let item =
            parse_downlink_command(&topic(), payload, Encoding::Json, SystemTime::now()).unwrap();
        assert_eq!((item.f_port, item.data), (1, vec![0xaa]));
        assert_eq!(item.expires_at, None);
        assert_eq!(item.id.get_version_num(), 4, "a new UUIDv4 for an empty id");
    }

    #[test]
    fn snake_case_json_keys_are_accepted() {
        let payload = br#"{"dev_eui":"0102030405060708","f_port":2,"data":""}"#;
        let item =
            parse_downlink_command(&topic(), payload, Encoding::Json, SystemTime::now()).unwrap();
        assert_eq!(item.f_port, 2);
    }

    #[test]
    fn f_port_must_be_1_to_223() {
        for (f_port, ok) in [
            (0, false),
            (1, true),
            (223, true),
            (224, false),
            (256, false),
        ] {
            let result = queue_item(
                &DownlinkCommand {
                    f_port,
                    ..command()
                },
                SystemTime::now(),
            );
            assert_eq!(result.is_ok(), ok, "{f_port}");
            if !ok {
                assert!(matches!(result, Err(CommandError::FPort(p)) if p == f_port));
            }
        }
    }

    #[test]
    fn object_payload_says_codecs_are_not_supported() {
        let err = queue_item(
            &DownlinkCommand {
                object: Some(Struct::default()),
                ..command()
            },
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(matches!(err, CommandError::CodecNotSupported));
        assert!(err.to_string().contains("codecs are not supported yet"));
    }

    #[test]
    fn payload_for_another_device_is_rejected() {
        let payload = encode(
            &DownlinkCommand {
                dev_eui: "0807060504030201".into(),
                ..command()
            },
            Encoding::Json,
        );
        let err = parse_downlink_command(&topic(), &payload, Encoding::Json, SystemTime::now())
            .unwrap_err();
        assert!(matches!(err, CommandError::DevEuiMismatch { .. }), "{err}");
    }

    #[test]
    fn bad_identifiers_and_payloads_are_named() {
        let now = SystemTime::now();
        let bad_id = DownlinkCommand {
            id: "42".into(),
            ..command()
        };
        assert!(matches!(
            queue_item(&bad_id, now),
            Err(CommandError::QueueItemId { .. })
        ));
        let bad_eui = DownlinkCommand {
            dev_eui: "01020304".into(),
            ..command()
        };
        assert!(matches!(
            queue_item(&bad_eui, now),
            Err(CommandError::DevEui { .. })
        ));
        let bad_expiry = DownlinkCommand {
            expires_at: Some(Timestamp {
                seconds: 0,
                nanos: -1,
            }),
            ..command()
        };
        assert!(matches!(
            queue_item(&bad_expiry, now),
            Err(CommandError::ExpiresAt { .. })
        ));
        let err = parse_downlink_command(&topic(), b"{not json", Encoding::Json, now).unwrap_err();
        assert!(
            err.to_string().contains("integration.DownlinkCommand"),
            "{err}"
        );
        let err =
            parse_downlink_command(&topic(), b"\xff\xff", Encoding::Protobuf, now).unwrap_err();
        assert!(matches!(err, CommandError::Decode(_)), "{err}");
    }

    #[test]
    fn commands_other_than_down_are_unknown() {
        let topic = CommandTopic {
            command: "flush".into(),
            ..topic()
        };
        let payload = encode(&command(), Encoding::Json);
        assert!(matches!(
            parse_downlink_command(&topic, &payload, Encoding::Json, SystemTime::now()),
            Err(CommandError::UnknownCommand(c)) if c == "flush"
        ));
    }
}
