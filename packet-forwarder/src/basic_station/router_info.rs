//! `/router-info` discovery: the station asks which muxs to connect to.

use lorawan::Eui64;
use serde::{Deserialize, Serialize};

use super::Error;
use super::serde_util::{format_id6, parse_eui};

/// `{"router": …}`: the station's EUI as an id6 string, an EUI string in any
/// form, or an integer.
///
/// ```
/// use packet_forwarder::basic_station::RouterInfoRequest;
/// let req = RouterInfoRequest::parse(br#"{"router":"b827:ebff:fe61:51a2"}"#)?;
/// assert_eq!(req.router.to_u64(), 0xb827_ebff_fe61_51a2);
/// let req = RouterInfoRequest::parse(br#"{"router":1}"#)?;
/// assert_eq!(req.router.to_u64(), 1);
/// # Ok::<(), packet_forwarder::basic_station::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterInfoRequest {
    /// The gateway (router) EUI.
    pub router: Eui64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RouterId {
    Int(u64),
    Text(String),
}

#[derive(Deserialize)]
struct Raw {
    router: RouterId,
}

impl RouterInfoRequest {
    /// Parses the request text.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let raw: Raw =
            serde_json::from_slice(text).map_err(|e| Error::from_serde("router-info", &e))?;
        let router = match raw.router {
            RouterId::Int(v) => Eui64::from_u64(v),
            RouterId::Text(s) => parse_eui(&s).ok_or_else(|| Error::Invalid {
                msgtype: "router-info".into(),
                message: format!("invalid router id {s:?}"),
            })?,
        };
        Ok(Self { router })
    }
}

/// The LNS's answer: where the station is to open its muxs connection, or why
/// it may not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterInfoResponse {
    /// The gateway EUI, in id6 form.
    pub router: String,
    /// The muxs EUI, in id6 form (absent in an error answer).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub muxs: Option<String>,
    /// The `ws://` or `wss://` URI of the muxs endpoint (absent in an error answer).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uri: Option<String>,
    /// Why the station was refused.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl RouterInfoResponse {
    /// Sends the station to `uri` (`ws[s]://host:port/path`).
    ///
    /// ```
    /// use lorawan::Eui64;
    /// use packet_forwarder::basic_station::RouterInfoResponse;
    /// let r = RouterInfoResponse::ok(Eui64::from_u64(0xb827_ebff_fe61_51a2), Eui64::default(),
    ///     "ws://lns:3001/gateway/b827ebfffe6151a2");
    /// assert_eq!(r.to_json(),
    ///     r#"{"router":"b827:ebff:fe61:51a2","muxs":"0:0:0:0","uri":"ws://lns:3001/gateway/b827ebfffe6151a2"}"#);
    /// ```
    pub fn ok(router: Eui64, muxs: Eui64, uri: impl Into<String>) -> Self {
        Self {
            router: format_id6(router),
            muxs: Some(format_id6(muxs)),
            uri: Some(uri.into()),
            error: None,
        }
    }

    /// Refuses the station with a reason.
    pub fn error(router: Eui64, reason: impl Into<String>) -> Self {
        Self {
            router: format_id6(router),
            muxs: None,
            uri: None,
            error: Some(reason.into()),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain struct serializes")
    }
}
