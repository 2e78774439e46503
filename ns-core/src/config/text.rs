//! The text layer of the configuration: environment substitution, merging
//! the files' tables, and the value syntaxes TOML has no type for
//! (durations, DevAddr prefixes).

use std::time::Duration;

pub(crate) use config_text::{merge_tables, substitute_env};
use serde::{Deserialize, Deserializer};

use crate::join::DevAddrPrefix;

/// Merges `other` into `base`: tables key by key, recursively; `regions`
/// (an array of tables) entry by entry, matched by `id`; any other value
/// replaced.
pub(crate) fn merge(base: &mut toml::Table, other: toml::Table) {
    for (key, value) in other {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (Some(toml::Value::Array(b)), toml::Value::Array(o)) if key == "regions" => {
                merge_regions(b, o);
            }
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

/// The `id` of a `[[regions]]` entry (ChirpStack also reads the older `name`).
pub(crate) fn region_id(entry: &toml::Value) -> Option<&str> {
    let table = entry.as_table()?;
    table
        .get("id")
        .or_else(|| table.get("name"))
        .and_then(toml::Value::as_str)
}

/// Adds `incoming` region entries to `base`: an entry whose id is already
/// there is merged into it, a new one appended.
fn merge_regions(base: &mut Vec<toml::Value>, incoming: Vec<toml::Value>) {
    for entry in incoming {
        let existing =
            region_id(&entry).and_then(|id| base.iter().position(|b| region_id(b) == Some(id)));
        match (existing.map(|i| &mut base[i]), entry) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, entry) => base.push(entry),
        }
    }
}

/// serde: a [`config_text::parse_duration`] string (ChirpStack's `"200ms"`,
/// `"31d"`, `"1h 30m"`, or Go's `"1m30s"`).
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    config_text::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// serde: DevAddr prefixes written `"26000000/7"`.
pub(crate) fn dev_addr_prefixes<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<DevAddrPrefix>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_entries_merge_by_id() {
        let mut base: toml::Table =
            toml::from_str("[[regions]]\nid = \"a\"\nx = 1\n[[regions]]\nid = \"b\"").unwrap();
        merge(
            &mut base,
            toml::from_str("[[regions]]\nid = \"a\"\ny = 2\n[[regions]]\nid = \"c\"").unwrap(),
        );
        let regions = base["regions"].as_array().unwrap();
        let ids: Vec<_> = regions.iter().filter_map(region_id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(regions[0]["x"].as_integer(), Some(1));
        assert_eq!(regions[0]["y"].as_integer(), Some(2));
    }
}
