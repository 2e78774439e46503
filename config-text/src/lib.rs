//! The text layer of TOML configuration files, as the ChirpStack components
//! read them: `$NAME` / `${NAME}` replaced from the environment before
//! parsing, several files merged table by table (later files win key by
//! key), and durations written as text (`"200ms"`, `"1m30s"`, `"31d"`).
//!
//! ```
//! use config_text::{merge_tables, parse_duration, substitute_env};
//! use std::time::Duration;
//!
//! let text = substitute_env("host = \"$HOST\"", |k| (k == "HOST").then(|| "broker".to_owned()));
//! assert_eq!(text, "host = \"broker\"");
//! let mut base: toml::Table = toml::from_str("[a]\nx = 1\ny = 2").unwrap();
//! merge_tables(&mut base, toml::from_str("[a]\ny = 3").unwrap());
//! assert_eq!(base["a"]["x"].as_integer(), Some(1));
//! assert_eq!(base["a"]["y"].as_integer(), Some(3));
//! assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Replaces `$NAME` and `${NAME}` with `lookup(NAME)`. A name `lookup` does
/// not know is left as written, so a literal `$` (or an unset variable)
/// survives; ChirpStack leaves unset variables in place the same way.
pub fn substitute_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = match after.strip_prefix('{') {
            Some(braced) => braced
                .find('}')
                .map_or(("", 0), |end| (&braced[..end], end + 2)),
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        let is_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        match is_name.then(|| lookup(name)).flatten() {
            Some(value) => {
                out.push_str(&value);
                rest = &after[consumed..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Merges `other` into `base`: tables key by key, recursively; any other
/// value (arrays included) replaced.
pub fn merge_tables(base: &mut toml::Table, other: toml::Table) {
    for (key, value) in other {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// A duration as ChirpStack writes them (`"200ms"`, `"5s"`, `"31d"`,
/// `"1h 30m"`) or as Go does (`"1m30s"`); `"0"` is zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let err =
        || format!("{text:?} is not a duration such as \"200ms\", \"5s\", \"1m30s\" or \"31d\"");
    let mut rest = text.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..digits].parse().map_err(|_| err())?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !(c.is_alphabetic()))
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" | "nsec" => 1e-9,
            "us" | "µs" | "usec" => 1e-6,
            "ms" | "msec" | "millis" => 1e-3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3_600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "week" | "weeks" => 604_800.0,
            _ => return Err(err()),
        };
        rest = rest[unit_len..].trim_start();
        total += Duration::try_from_secs_f64(number * seconds).map_err(|_| err())?;
    }
    Ok(total)
}

/// serde: a [`parse_duration`] string.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_variables_are_substituted() {
        let env = |k: &str| match k {
            "PASS" => Some("s3cret".to_owned()),
            "HOST" => Some("broker".to_owned()),
            _ => None,
        };
        assert_eq!(
            substitute_env(
                "p=\"$PASS\" h=\"${HOST}:1\" x=\"$NOPE\" y=\"$\" z=\"a$1\" w=\"${\"",
                env
            ),
            "p=\"s3cret\" h=\"broker:1\" x=\"$NOPE\" y=\"$\" z=\"a$1\" w=\"${\""
        );
    }

    #[test]
    fn durations_parse_in_go_and_humantime_forms() {
        for (text, d) in [
            ("30s", Duration::from_secs(30)),
            ("1m5s", Duration::from_secs(65)),
            ("100ms", Duration::from_millis(100)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("1h 30m", Duration::from_secs(5400)),
            ("31d", Duration::from_secs(31 * 86_400)),
            ("2 weeks", Duration::from_secs(14 * 86_400)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
        for bad in ["", "5", "s", "5x", "-1s", "1s5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
