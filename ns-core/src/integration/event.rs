//! The kinds of device event, and one type holding any of them.

use std::fmt;
use std::str::FromStr;

use super::{
    AckEvent, DeviceInfo, Encoding, IntegrationEvent, JoinEvent, LocationEvent, LogEvent,
    StatusEvent, TxAckEvent, UplinkEvent, encode,
};

/// The kind of a device event, by the name ChirpStack gives it in MQTT topics
/// (`…/event/{kind}`) and HTTP integration URLs (`?event={kind}`).
///
/// ```
/// use ns_core::integration::EventKind;
/// assert_eq!(EventKind::TxAck.as_str(), "txack");
/// assert_eq!("status".parse::<EventKind>(), Ok(EventKind::Status));
/// assert!("uplink".parse::<EventKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EventKind {
    /// `up`: a data uplink ([`UplinkEvent`]).
    Up,
    /// `join`: a device joined ([`JoinEvent`]).
    Join,
    /// `ack`: a confirmed downlink was acknowledged or timed out ([`AckEvent`]).
    Ack,
    /// `txack`: a gateway accepted a downlink ([`TxAckEvent`]).
    TxAck,
    /// `log`: a message about the device ([`LogEvent`]).
    Log,
    /// `status`: battery and margin ([`StatusEvent`]).
    Status,
    /// `location`: a resolved position ([`LocationEvent`]).
    Location,
    /// `integration`: an event from an integration ([`IntegrationEvent`]).
    Integration,
}

impl EventKind {
    /// Every kind, in ChirpStack's order.
    pub const ALL: [Self; 8] = [
        Self::Up,
        Self::Join,
        Self::Ack,
        Self::TxAck,
        Self::Log,
        Self::Status,
        Self::Location,
        Self::Integration,
    ];

    /// The kind's name in topics and URLs: `up`, `join`, `ack`, `txack`,
    /// `log`, `status`, `location`, `integration`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Join => "join",
            Self::Ack => "ack",
            Self::TxAck => "txack",
            Self::Log => "log",
            Self::Status => "status",
            Self::Location => "location",
            Self::Integration => "integration",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the [`EventKind`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event kind {0:?}: expected up, join, ack, txack, log, status, location or integration"
)]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

/// Any device event: what an integration publishes.
///
/// ```
/// use ns_core::integration::{DeviceInfo, Encoding, Event, EventKind, LogEvent, DEFAULT_EVENT_TOPIC};
/// let event = Event::from(LogEvent {
///     device_info: Some(DeviceInfo {
///         application_id: "00000000-0000-0000-0000-000000000000".into(),
///         dev_eui: "0102030405060708".into(),
///         ..Default::default()
///     }),
///     description: "hello".into(),
///     ..Default::default()
/// });
/// assert_eq!(event.kind(), EventKind::Log);
/// assert_eq!(
///     event.topic(DEFAULT_EVENT_TOPIC),
///     "application/00000000-0000-0000-0000-000000000000/device/0102030405060708/event/log",
/// );
/// assert!(event.encode(Encoding::Json).starts_with(br#"{"deviceInfo":{"#));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A data uplink.
    Up(UplinkEvent),
    /// A device joined.
    Join(JoinEvent),
    /// A confirmed downlink was acknowledged, or timed out.
    Ack(AckEvent),
    /// A gateway accepted a downlink.
    TxAck(TxAckEvent),
    /// A message about the device.
    Log(LogEvent),
    /// Battery and margin.
    Status(StatusEvent),
    /// A resolved position.
    Location(LocationEvent),
    /// An event from an integration.
    Integration(IntegrationEvent),
}

impl Event {
    /// Its kind.
    #[must_use]
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::Up(_) => EventKind::Up,
            Self::Join(_) => EventKind::Join,
            Self::Ack(_) => EventKind::Ack,
            Self::TxAck(_) => EventKind::TxAck,
            Self::Log(_) => EventKind::Log,
            Self::Status(_) => EventKind::Status,
            Self::Location(_) => EventKind::Location,
            Self::Integration(_) => EventKind::Integration,
        }
    }

    /// The device it is about, if set (the builders always set it).
    #[must_use]
    pub const fn device_info(&self) -> Option<&DeviceInfo> {
        match self {
            Self::Up(e) => e.device_info.as_ref(),
            Self::Join(e) => e.device_info.as_ref(),
            Self::Ack(e) => e.device_info.as_ref(),
            Self::TxAck(e) => e.device_info.as_ref(),
            Self::Log(e) => e.device_info.as_ref(),
            Self::Status(e) => e.device_info.as_ref(),
            Self::Location(e) => e.device_info.as_ref(),
            Self::Integration(e) => e.device_info.as_ref(),
        }
    }

    /// The message in the given encoding (see [`encode`](super::encode)).
    #[must_use]
    pub fn encode(&self, encoding: Encoding) -> Vec<u8> {
        match self {
            Self::Up(e) => encode(e, encoding),
            Self::Join(e) => encode(e, encoding),
            Self::Ack(e) => encode(e, encoding),
            Self::TxAck(e) => encode(e, encoding),
            Self::Log(e) => encode(e, encoding),
            Self::Status(e) => encode(e, encoding),
            Self::Location(e) => encode(e, encoding),
            Self::Integration(e) => encode(e, encoding),
        }
    }

    /// The MQTT topic to publish it on: [`event_topic`](super::event_topic)
    /// with the application ID and DevEUI of its [`DeviceInfo`] (empty when
    /// it has none, as ChirpStack would refuse such an event).
    #[must_use]
    pub fn topic(&self, template: &str) -> String {
        let (application_id, dev_eui) = self.device_info().map_or(("", ""), |d| {
            (d.application_id.as_str(), d.dev_eui.as_str())
        });
        super::event_topic(template, application_id, dev_eui, self.kind())
    }
}

macro_rules! event_from {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(
            impl From<$ty> for Event {
                fn from(event: $ty) -> Self {
                    Self::$variant(event)
                }
            }
        )*
    };
}

event_from!(
    Up(UplinkEvent),
    Join(JoinEvent),
    Ack(AckEvent),
    TxAck(TxAckEvent),
    Log(LogEvent),
    Status(StatusEvent),
    Location(LocationEvent),
    Integration(IntegrationEvent),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_back_from_its_name() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn kind_names_are_case_sensitive_as_in_chirpstack_topics() {
        assert_eq!(
            "Up".parse::<EventKind>(),
            Err(UnknownEventKind("Up".into()))
        );
    }

    #[test]
    fn event_kind_matches_its_variant() {
        let kinds: Vec<_> = [
            Event::from(UplinkEvent::default()),
            JoinEvent::default().into(),
            AckEvent::default().into(),
            TxAckEvent::default().into(),
            LogEvent::default().into(),
            StatusEvent::default().into(),
            LocationEvent::default().into(),
            IntegrationEvent::default().into(),
        ]
        .iter()
        .map(Event::kind)
        .collect();
        assert_eq!(kinds, EventKind::ALL);
    }

    #[test]
    fn event_without_device_info_gets_empty_topic_fields() {
        let event = Event::from(AckEvent::default());
        assert_eq!(
            event.topic(super::super::DEFAULT_EVENT_TOPIC),
            "application//device//event/ack"
        );
    }
}
