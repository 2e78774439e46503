//! MAC commands as reports: each command's fields as a JSON object, from the
//! library's serde form of `MacCommand` (field names as the specification's).

use lorawan::Direction;
use lorawan::mac::{self, MacCommand};
use serde_json::{Map, Value};

use crate::report::{MacReport, hex};

/// Reads the MAC commands in `bytes` (plaintext FOpts or FPort 0 payload).
pub(crate) fn reports(direction: Direction, source: &'static str, bytes: &[u8]) -> Vec<MacReport> {
    let mut out = Vec::new();
    let mut commands = mac::parse(direction, bytes);
    loop {
        let start = commands.offset();
        match commands.next() {
            None => break,
            Some(Ok(command)) => {
                let end = commands.offset();
                out.push(MacReport {
                    source,
                    cid: Some(format!("{:02x}", command.cid())),
                    name: Some(command.name()),
                    bytes: Some(hex(bytes.get(start..end).unwrap_or_default())),
                    fields: Some(fields(&command)),
                    error: None,
                });
            }
            Some(Err(e)) => out.push(MacReport {
                source,
                cid: None,
                name: None,
                bytes: Some(hex(bytes.get(start..).unwrap_or_default())),
                fields: None,
                error: Some(e.to_string()),
            }),
        }
    }
    out
}

/// The fields of a command as an object (empty for a command without payload).
pub(crate) fn fields(command: &MacCommand) -> Value {
    // `MacCommand` serializes externally tagged: `{"Name": {fields}}`, or
    // `"Name"` for a command without payload.
    let inner = match serde_json::to_value(command) {
        Ok(Value::Object(mut tagged)) if tagged.len() == 1 => tagged
            .values_mut()
            .next()
            .map(Value::take)
            .unwrap_or_default(),
        Ok(_) | Err(_) => Value::Object(Map::new()),
    };
    match inner {
        Value::Object(_) => inner,
        Value::Null => Value::Object(Map::new()),
        other => Value::Object(Map::from_iter([("value".to_owned(), other)])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_shape_becomes_an_object() {
        let (cmd, _) = mac::parse_one(Direction::Downlink, &[0x02, 0x07, 0x01]).unwrap();
        assert_eq!(fields(&cmd), serde_json::json!({"margin": 7, "gw_cnt": 1}));
        let (cmd, _) = mac::parse_one(Direction::Uplink, &[0x02]).unwrap();
        assert_eq!(fields(&cmd), serde_json::json!({}));
    }

    #[test]
    fn every_cid_in_both_directions_has_object_fields() {
        for direction in [Direction::Uplink, Direction::Downlink] {
            for cid in 0u8..=0x7f {
                let mut bytes = [0u8; mac::MAX_ENCODED_LEN];
                bytes[0] = cid;
                if let Ok((cmd, _)) = mac::parse_one(direction, &bytes) {
                    assert!(fields(&cmd).is_object(), "{cmd:?}");
                }
            }
        }
    }
}
