//! The HTTP integration's requests: each event is POSTed to every endpoint
//! with `?event={kind}`, its body in the configured encoding.

use super::{Encoding, EventKind};

/// The endpoints of an HTTP integration: ChirpStack's comma-separated
/// `event_endpoint_url`, each trimmed. Empty entries (a trailing comma) are
/// dropped, where ChirpStack would post to an empty URL and fail.
///
/// ```
/// use ns_core::integration::http_endpoints;
/// assert_eq!(
///     http_endpoints("http://a.example/events, http://b.example ,"),
///     ["http://a.example/events", "http://b.example"],
/// );
/// ```
#[must_use]
pub fn http_endpoints(event_endpoint_url: &str) -> Vec<String> {
    event_endpoint_url
        .split(',')
        .map(str::trim)
        .filter(|url| !url.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The URL an event is POSTed to: the endpoint with the query parameter
/// `event={kind}` added (after `&` when it already has a query).
///
/// ```
/// use ns_core::integration::{http_event_url, EventKind};
/// assert_eq!(http_event_url("http://a.example/events", EventKind::Up), "http://a.example/events?event=up");
/// assert_eq!(http_event_url("http://a.example/?key=1", EventKind::Join), "http://a.example/?key=1&event=join");
/// assert_eq!(http_event_url("http://a.example/#top", EventKind::Log), "http://a.example/?event=log#top");
/// ```
#[must_use]
pub fn http_event_url(endpoint: &str, kind: EventKind) -> String {
    // The query goes before a fragment, which is never sent anyway.
    let (base, fragment) = endpoint
        .split_once('#')
        .map_or((endpoint, None), |(base, fragment)| (base, Some(fragment)));
    let separator = match base.find('?') {
        None => "?",
        Some(i) if i + 1 == base.len() || base.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut url = format!("{base}{separator}event={}", kind.as_str());
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// The `Content-Type` of an event body: `application/json` or
/// `application/octet-stream`, as ChirpStack sends them.
///
/// ```
/// use ns_core::integration::{content_type, Encoding};
/// assert_eq!(content_type(Encoding::Json), "application/json");
/// assert_eq!(content_type(Encoding::Protobuf), "application/octet-stream");
/// ```
#[must_use]
pub const fn content_type(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Json => "application/json",
        Encoding::Protobuf => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_parameter_joins_an_existing_query_without_doubling_separators() {
        assert_eq!(
            http_event_url("http://h/p?", EventKind::Ack),
            "http://h/p?event=ack"
        );
        assert_eq!(
            http_event_url("http://h/p?a=1&", EventKind::TxAck),
            "http://h/p?a=1&event=txack"
        );
    }

    #[test]
    fn endpoints_split_like_chirpstack() {
        assert_eq!(
            http_endpoints("http://a.com,http://b.com, http://c.com , http://d.com"),
            [
                "http://a.com",
                "http://b.com",
                "http://c.com",
                "http://d.com"
            ]
        );
        assert!(http_endpoints("").is_empty());
    }
}
