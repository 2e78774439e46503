//! The MQTT integration's topics: event topics rendered from a template, and
//! command topics matched against one.
//!
//! Templates use ChirpStack's Handlebars placeholders, `{{application_id}}`,
//! `{{dev_eui}}`, `{{event}}` and `{{command}}` (spaces inside the braces
//! allowed). Only plain placeholders are understood; an unknown one renders
//! as nothing, as Handlebars renders a missing value.

use std::fmt::{self, Display};
use std::str::FromStr;

use lorawan::Eui64;
use uuid::Uuid;

use super::{CommandError, EventKind};

/// ChirpStack's default event topic template.
pub const DEFAULT_EVENT_TOPIC: &str =
    "application/{{application_id}}/device/{{dev_eui}}/event/{{event}}";

/// ChirpStack's default command topic template.
pub const DEFAULT_COMMAND_TOPIC: &str =
    "application/{{application_id}}/device/{{dev_eui}}/command/{{command}}";

/// A piece of a topic template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Splits a template into literals and placeholders. A `{{` without its
/// `}}` is literal text.
fn parts(template: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        if open > 0 {
            out.push(Part::Literal(&rest[..open]));
        }
        out.push(Part::Placeholder(rest[open + 2..open + 2 + close].trim()));
        rest = &rest[open + 2 + close + 2..];
    }
    if !rest.is_empty() {
        out.push(Part::Literal(rest));
    }
    out
}

/// Renders a template, looking each placeholder up by name.
fn render(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 40);
    for part in parts(template) {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Placeholder(name) => out.push_str(&value(name).unwrap_or_default()),
        }
    }
    out
}

/// The topic an event is published on: `template` (ChirpStack's
/// `integration.mqtt.event_topic`, [`DEFAULT_EVENT_TOPIC`] by default) with
/// `{{application_id}}`, `{{dev_eui}}` and `{{event}}` filled in.
///
/// ```
/// use ns_core::integration::{event_topic, EventKind, DEFAULT_EVENT_TOPIC};
/// use lorawan::Eui64;
/// use uuid::Uuid;
///
/// assert_eq!(
///     event_topic(DEFAULT_EVENT_TOPIC, Uuid::nil(), Eui64::from_u64(0x0102030405060708), EventKind::Up),
///     "application/00000000-0000-0000-0000-000000000000/device/0102030405060708/event/up",
/// );
/// assert_eq!(
///     event_topic("lora/{{ dev_eui }}/{{ event }}", "app", "0102030405060708", EventKind::TxAck),
///     "lora/0102030405060708/txack",
/// );
/// ```
#[must_use]
pub fn event_topic(
    template: &str,
    application_id: impl Display,
    dev_eui: impl Display,
    kind: EventKind,
) -> String {
    render(template, |name| match name {
        "application_id" => Some(application_id.to_string()),
        "dev_eui" => Some(dev_eui.to_string()),
        "event" => Some(kind.as_str().to_owned()),
        _ => None,
    })
}

/// The MQTT subscription for commands: the command topic template with
/// every placeholder a `+` wildcard.
///
/// ```
/// use ns_core::integration::{command_subscription, DEFAULT_COMMAND_TOPIC};
/// assert_eq!(command_subscription(DEFAULT_COMMAND_TOPIC), "application/+/device/+/command/+");
/// ```
#[must_use]
pub fn command_subscription(template: &str) -> String {
    render(template, |name| match name {
        "application_id" | "dev_eui" | "command" => Some("+".to_owned()),
        _ => None,
    })
}

/// What a command topic says: which application's device, and which
/// command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandTopic {
    /// The application, as the topic names it. The driver must check that
    /// the device belongs to it before acting, as ChirpStack does.
    pub application_id: Uuid,
    /// The device.
    pub dev_eui: Eui64,
    /// The command: ChirpStack knows only `down`.
    pub command: String,
}

impl CommandTopic {
    /// Reads `topic` against the command topic `template`
    /// ([`DEFAULT_COMMAND_TOPIC`] by default).
    ///
    /// Placeholders match what ChirpStack's do: the application ID word
    /// characters and `-`, the DevEUI and the command word characters. The
    /// whole topic must match (ChirpStack's pattern would also find a match
    /// inside a longer topic).
    ///
    /// ```
    /// use ns_core::integration::{CommandTopic, DEFAULT_COMMAND_TOPIC};
    /// let topic = CommandTopic::parse(
    ///     DEFAULT_COMMAND_TOPIC,
    ///     "application/00000000-0000-0000-0000-000000000001/device/0102030405060708/command/down",
    /// )?;
    /// assert_eq!(topic.application_id, uuid::Uuid::from_u128(1));
    /// assert_eq!(topic.dev_eui.to_string(), "0102030405060708");
    /// assert_eq!(topic.command, "down");
    /// # Ok::<(), ns_core::integration::CommandError>(())
    /// ```
    ///
    /// # Errors
    /// [`CommandError::Topic`] when the topic does not have the template's
    /// shape; [`CommandError::ApplicationId`] or [`CommandError::DevEui`]
    /// when it does but its values are not a UUID or an EUI-64.
    pub fn parse(template: &str, topic: &str) -> Result<Self, CommandError> {
        let parts = parts(template);
        let mut captures = Captures::default();
        if !match_parts(&parts, topic, &mut captures) {
            return Err(CommandError::Topic {
                topic: topic.to_owned(),
                template: template.to_owned(),
            });
        }
        let application_id = captures.application_id.unwrap_or_default();
        let dev_eui = captures.dev_eui.unwrap_or_default();
        Ok(Self {
            application_id: Uuid::from_str(application_id).map_err(|source| {
                CommandError::ApplicationId {
                    value: application_id.to_owned(),
                    source,
                }
            })?,
            dev_eui: Eui64::from_str(dev_eui).map_err(|source| CommandError::DevEui {
                value: dev_eui.to_owned(),
                source,
            })?,
            command: captures.command.unwrap_or_default().to_owned(),
        })
    }
}

impl fmt::Display for CommandTopic {
    /// The topic in the default template.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "application/{}/device/{}/command/{}",
            self.application_id, self.dev_eui, self.command
        )
    }
}

#[derive(Debug, Default)]
struct Captures<'t> {
    application_id: Option<&'t str>,
    dev_eui: Option<&'t str>,
    command: Option<&'t str>,
}

impl<'t> Captures<'t> {
    /// Where a known placeholder's value goes.
    fn slot(&mut self, name: &str) -> &mut Option<&'t str> {
        match name {
            "application_id" => &mut self.application_id,
            "dev_eui" => &mut self.dev_eui,
            _ => &mut self.command,
        }
    }
}

/// The characters a placeholder may match; `None` for an unknown one, which
/// rendered as nothing and so matches nothing.
fn placeholder_chars(name: &str) -> Option<fn(char) -> bool> {
    fn word(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }
    fn word_or_hyphen(c: char) -> bool {
        word(c) || c == '-'
    }
    match name {
        "application_id" => Some(word_or_hyphen),
        "dev_eui" | "command" => Some(word),
        _ => None,
    }
}

/// Matches `input` against the template parts, backtracking over the
/// placeholders' lengths (longest first) like a regular expression would.
fn match_parts<'t>(parts: &[Part<'_>], input: &'t str, captures: &mut Captures<'t>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return input.is_empty();
    };
    match *first {
        Part::Literal(text) => input
            .strip_prefix(text)
            .is_some_and(|after| match_parts(rest, after, captures)),
        Part::Placeholder(name) => {
            let Some(allowed) = placeholder_chars(name) else {
                return match_parts(rest, input, captures);
            };
            let run = input
                .char_indices()
                .find(|&(_, c)| !allowed(c))
                .map_or(input.len(), |(i, _)| i);
            let ends = input[..run]
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .rev();
            for end in ends {
                let value = &input[..end];
                let before = *captures.slot(name);
                // A placeholder used twice must match the same text twice.
                if before.is_some_and(|seen| seen != value) {
                    continue;
                }
                *captures.slot(name) = Some(value);
                if match_parts(rest, &input[end..], captures) {
                    return true;
                }
                *captures.slot(name) = before;
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "6a5b8d2c-0000-4000-8000-00000000abcd";

    #[test]
    fn default_event_topic_is_chirpstacks() {
        assert_eq!(
            event_topic(
                DEFAULT_EVENT_TOPIC,
                APP,
                "0102030405060708",
                EventKind::Status
            ),
            format!("application/{APP}/device/0102030405060708/event/status")
        );
    }

    #[test]
    fn unknown_placeholder_renders_as_nothing_and_unclosed_braces_as_text() {
        assert_eq!(
            event_topic("a/{{tenant}}/{{event}}/{{x", APP, "00", EventKind::Log),
            "a//log/{{x"
        );
    }

    #[test]
    fn command_topic_round_trips_through_the_default_template() {
        let topic = CommandTopic::parse(
            DEFAULT_COMMAND_TOPIC,
            &format!("application/{APP}/device/0102030405060708/command/down"),
        )
        .unwrap();
        assert_eq!(topic.application_id.to_string(), APP);
        assert_eq!(topic.dev_eui, Eui64::from_u64(0x0102_0304_0506_0708));
        assert_eq!(
            topic.to_string(),
            format!("application/{APP}/device/0102030405060708/command/down")
        );
    }

    #[test]
    fn command_topic_of_another_shape_is_rejected() {
        for topic in [
            format!("application/{APP}/device/0102030405060708/event/up"),
            format!("application/{APP}/device/0102030405060708/command/down/extra"),
            format!("x/application/{APP}/device/0102030405060708/command/down"),
            "application//device/0102030405060708/command/down".to_owned(),
        ] {
            assert!(
                matches!(
                    CommandTopic::parse(DEFAULT_COMMAND_TOPIC, &topic),
                    Err(CommandError::Topic { .. })
                ),
                "{topic}"
            );
        }
    }

    #[test]
    fn command_topic_values_must_be_a_uuid_and_an_eui() {
        assert!(matches!(
            CommandTopic::parse(
                DEFAULT_COMMAND_TOPIC,
                "application/my-app/device/0102030405060708/command/down"
            ),
            Err(CommandError::ApplicationId { .. })
        ));
        assert!(matches!(
            CommandTopic::parse(
                DEFAULT_COMMAND_TOPIC,
                &format!("application/{APP}/device/01020304/command/down")
            ),
            Err(CommandError::DevEui { .. })
        ));
    }

    #[test]
    fn placeholders_followed_by_word_characters_backtrack() {
        let topic = CommandTopic::parse(
            "{{application_id}}_{{dev_eui}}_{{command}}",
            &format!("{APP}_0102030405060708_down"),
        )
        .unwrap();
        assert_eq!(topic.dev_eui, Eui64::from_u64(0x0102_0304_0506_0708));
        assert_eq!(topic.command, "down");
    }

    #[test]
    fn custom_template_with_spaces_in_braces() {
        let template = "lns/{{ application_id }}/{{ dev_eui }}/cmd/{{ command }}";
        assert_eq!(command_subscription(template), "lns/+/+/cmd/+");
        let topic =
            CommandTopic::parse(template, &format!("lns/{APP}/0102030405060708/cmd/down")).unwrap();
        assert_eq!(topic.command, "down");
    }
}
