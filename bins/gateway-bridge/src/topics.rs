//! MQTT topics from ChirpStack Gateway Bridge's Go-template topic settings
//! (`gateway/{{ .GatewayID }}/event/{{ .EventType }}` and the like).

use lorawan::Eui64;

use crate::config::Mqtt;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    GatewayId,
    /// `{{ .EventType }}`, `{{ .StateType }}` or `{{ .CommandType }}`.
    Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Part>);

impl Template {
    fn parse(key: &str, text: &str, kind_name: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find("}}")
                .ok_or_else(|| format!("integration.mqtt.{key} {text:?}: unclosed {{{{"))?;
            let field = rest[open + 2..open + close].trim();
            parts.push(match field.strip_prefix('.') {
                Some("GatewayID") => Part::GatewayId,
                Some(f) if f == kind_name => Part::Kind,
                _ => {
                    return Err(format!(
                        "integration.mqtt.{key} {text:?}: unknown field {{{{ {field} }}}} \
                         (known: .GatewayID, .{kind_name})"
                    ));
                }
            });
            rest = &rest[open + close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if !parts.contains(&Part::GatewayId) {
            return Err(format!(
                "integration.mqtt.{key} {text:?} has no {{{{ .GatewayID }}}}"
            ));
        }
        Ok(Self(parts))
    }

    fn render(&self, gateway_id: Eui64, kind: &str) -> String {
        let mut out = String::with_capacity(64);
        for part in &self.0 {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::GatewayId => {
                    use std::fmt::Write as _;
                    let _ = write!(out, "{gateway_id}");
                }
                Part::Kind => out.push_str(kind),
            }
        }
        out
    }
}

/// The topics of every gateway.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    event: Template,
    state: Template,
    command: Template,
    /// The command template split around the gateway id: the literal before,
    /// the literal after (without a trailing `#`).
    command_prefix: String,
    command_infix: String,
}

impl Topics {
    /// Compiles the templates of `[integration.mqtt]`.
    pub(crate) fn new(mqtt: &Mqtt) -> Result<Self, String> {
        let event = Template::parse(
            "event_topic_template",
            &mqtt.event_topic_template,
            "EventType",
        )?;
        let state = Template::parse(
            "state_topic_template",
            &mqtt.state_topic_template,
            "StateType",
        )?;
        let command = Template::parse(
            "command_topic_template",
            &mqtt.command_topic_template,
            "CommandType",
        )?;
        for (key, t) in [
            ("event_topic_template", &event),
            ("state_topic_template", &state),
        ] {
            if !t.0.contains(&Part::Kind) {
                return Err(format!("integration.mqtt.{key} has no type field"));
            }
        }
        let unsupported = || {
            format!(
                "integration.mqtt.command_topic_template {:?} must be \
                 `prefix{{{{ .GatewayID }}}}infix#` or `prefix{{{{ .GatewayID }}}}infix{{{{ .CommandType }}}}`",
                mqtt.command_topic_template
            )
        };
        let (prefix, infix) = match command.0.as_slice() {
            [Part::Literal(p), Part::GatewayId, Part::Literal(i)] if i.ends_with('#') => {
                (p.clone(), i.trim_end_matches('#').to_owned())
            }
            [Part::GatewayId, Part::Literal(i)] if i.ends_with('#') => {
                (String::new(), i.trim_end_matches('#').to_owned())
            }
            [
                Part::Literal(p),
                Part::GatewayId,
                Part::Literal(i),
                Part::Kind,
            ] => (p.clone(), i.clone()),
            [Part::GatewayId, Part::Literal(i), Part::Kind] => (String::new(), i.clone()),
            _ => return Err(unsupported()),
        };
        Ok(Self {
            event,
            state,
            command,
            command_prefix: prefix,
            command_infix: infix,
        })
    }

    /// `event_topic_template` for `kind` (`up`, `stats`, `ack`).
    pub(crate) fn event(&self, gateway_id: Eui64, kind: &str) -> String {
        self.event.render(gateway_id, kind)
    }

    /// `state_topic_template` for `kind` (`conn`).
    pub(crate) fn state(&self, gateway_id: Eui64, kind: &str) -> String {
        self.state.render(gateway_id, kind)
    }

    /// The subscription filter for one gateway's commands.
    pub(crate) fn command_filter(&self, gateway_id: Eui64) -> String {
        self.command.render(gateway_id, "+")
    }

    /// The gateway and command type (`down`, `config`, ...) of a command
    /// topic, if it is one.
    pub(crate) fn parse_command<'t>(&self, topic: &'t str) -> Option<(Eui64, &'t str)> {
        let rest = topic.strip_prefix(self.command_prefix.as_str())?;
        let id = rest.get(..16)?;
        let gateway_id: Eui64 = id.parse().ok()?;
        let kind = rest[16..].strip_prefix(self.command_infix.as_str())?;
        (!kind.is_empty() && !kind.contains('/')).then_some((gateway_id, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(prefix: &str, command: &str) -> Topics {
        Topics::new(&Mqtt {
            event_topic_template: format!(
                "{prefix}gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
            ),
            state_topic_template: format!(
                "{prefix}gateway/{{{{.GatewayID}}}}/state/{{{{ .StateType }}}}"
            ),
            command_topic_template: command.into(),
            ..Mqtt::default()
        })
        .unwrap()
    }

    const GW: Eui64 = Eui64::from_u64(0x0102_0304_0506_0a0b);

    #[test]
    fn default_templates_give_chirpstack_topics() {
        let t = Topics::new(&Mqtt::default()).unwrap();
        assert_eq!(t.event(GW, "up"), "gateway/0102030405060a0b/event/up");
        assert_eq!(t.state(GW, "conn"), "gateway/0102030405060a0b/state/conn");
        assert_eq!(t.command_filter(GW), "gateway/0102030405060a0b/command/#");
        assert_eq!(
            t.parse_command("gateway/0102030405060a0b/command/down"),
            Some((GW, "down"))
        );
    }

    #[test]
    fn region_prefix_and_command_type_templates_work() {
        let t = topics(
            "eu868/",
            "eu868/gateway/{{ .GatewayID }}/command/{{ .CommandType }}",
        );
        assert_eq!(
            t.event(GW, "stats"),
            "eu868/gateway/0102030405060a0b/event/stats"
        );
        assert_eq!(
            t.state(GW, "conn"),
            "eu868/gateway/0102030405060a0b/state/conn"
        );
        assert_eq!(
            t.command_filter(GW),
            "eu868/gateway/0102030405060a0b/command/+"
        );
        assert_eq!(
            t.parse_command("eu868/gateway/0102030405060A0B/command/config"),
            Some((GW, "config"))
        );
    }

    #[test]
    fn foreign_topics_are_not_commands() {
        let t = topics("", "gateway/{{ .GatewayID }}/command/#");
        for topic in [
            "gateway/0102030405060a0/command/down",
            "gateway/zz02030405060a0b/command/down",
            "gateway/0102030405060a0b/command/",
            "gateway/0102030405060a0b/command/down/x",
            "gateway/0102030405060a0b/event/down",
            "other/0102030405060a0b/command/down",
            "gateway/",
        ] {
            assert_eq!(t.parse_command(topic), None, "{topic}");
        }
    }

    #[test]
    fn unusable_templates_are_rejected() {
        for (event, command) in [
            (
                "gateway/event/{{ .EventType }}",
                "gateway/{{ .GatewayID }}/command/#",
            ),
            (
                "gateway/{{ .GatewayID }}/event",
                "gateway/{{ .GatewayID }}/command/#",
            ),
            (
                "gateway/{{ .GatewayID }}/{{ .Foo }}",
                "gateway/{{ .GatewayID }}/command/#",
            ),
            (
                "gateway/{{ .GatewayID }}/event/{{ .EventType }}",
                "gateway/{{ .GatewayID }}/command/down",
            ),
            (
                "gateway/{{ .GatewayID }}/event/{{ .EventType",
                "gateway/{{ .GatewayID }}/command/#",
            ),
        ] {
            let mqtt = Mqtt {
                event_topic_template: event.into(),
                command_topic_template: command.into(),
                ..Mqtt::default()
            };
            assert!(Topics::new(&mqtt).is_err(), "{event} {command}");
        }
    }
}
