use lorawan::region::Region;

/// Why a Basics Station message was rejected or could not be built.
///
/// The first group is the station's fault (its text is not a message we
/// understand), [`Error::UnknownDataRate`] and the reassembly errors are a
/// disagreement between the station and the region it was configured for, and
/// the downlink and channel-plan errors are the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not JSON, or not a JSON object.
    #[error("bad JSON: {0}")]
    Syntax(String),
    /// The object has no `msgtype` string.
    #[error("message has no msgtype")]
    MissingMsgType,
    /// `msgtype` names a message this side does not take.
    #[error("unknown msgtype {0:?}")]
    UnknownMsgType(String),
    /// A mandatory field is absent.
    #[error("{msgtype}: missing field {field}")]
    MissingField {
        /// The message type.
        msgtype: String,
        /// The field, as the station spells it.
        field: String,
    },
    /// A field has the wrong type or an out-of-range value; `message` is serde's.
    #[error("{msgtype}: {message}")]
    Invalid {
        /// The message type.
        msgtype: String,
        /// serde_json's description, with line and column.
        message: String,
    },
    /// A `DR` index the region's table does not define.
    #[error("data rate {dr} is not defined in {region}")]
    UnknownDataRate {
        /// The index the station sent.
        dr: u8,
        /// The region the session was configured for.
        region: Region,
    },
    /// The fields of an uplink do not make a PHYPayload (FOptsLen disagrees
    /// with FOpts, FPort out of range, FRMPayload without FPort, frame too long,
    /// wrong MType for the message).
    #[error("cannot reassemble {msgtype}: {field} {reason}")]
    Reassembly {
        /// The message type.
        msgtype: &'static str,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A PHYPayload handed to `from_phy_payload` is not a frame of that kind.
    #[error("not a {msgtype} frame: {reason}")]
    Frame {
        /// The message type asked for.
        msgtype: &'static str,
        /// lorawan's description.
        reason: String,
    },
    /// A `gw::DownlinkFrame` that cannot become a `dnmsg` or `dnsched` (no
    /// items, no timing or the wrong one, no modulation, a modulation the
    /// region has no downlink DR for).
    #[error("cannot build downlink: {0}")]
    Downlink(&'static str),
    /// A channel plan that does not fit one SX1301 (more than two radios, more
    /// than eight multi-SF channels, a second single-SF or FSK channel).
    #[error("channel plan does not fit an sx1301: {0}")]
    ChannelPlan(&'static str),
}

impl Error {
    /// Sorts serde_json's error for `msgtype` into [`Error::Syntax`],
    /// [`Error::MissingField`] or [`Error::Invalid`].
    pub(crate) fn from_serde(msgtype: &str, e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => Self::Syntax(e.to_string()),
            Category::Data => {
                let text = e.to_string();
                if let Some(rest) = text.strip_prefix("missing field `")
                    && let Some(end) = rest.find('`')
                {
                    return Self::MissingField {
                        msgtype: msgtype.into(),
                        field: rest[..end].into(),
                    };
                }
                Self::Invalid {
                    msgtype: msgtype.into(),
                    message: text,
                }
            }
        }
    }
}
