//! Differential tests against a peer implementation: every difference must match
//! one of a list of pinned, explained rules, and every rule must still match
//! something (a rule nothing matches is stale and must be removed).

use std::collections::BTreeMap;
use std::fmt::Debug;

/// An explained difference: why, and which differences it covers.
pub(crate) type Rule<D> = (&'static str, fn(&D) -> bool);

/// Checks `diffs` (found among `compared` values) against the pinned `known`
/// rules; panics on a difference no rule explains, or on a stale rule.
pub(crate) fn assert_only_pinned<D: Debug>(
    name: &str,
    compared: usize,
    diffs: &[D],
    known: &[Rule<D>],
) {
    let mut hits: BTreeMap<&'static str, usize> = known.iter().map(|(why, _)| (*why, 0)).collect();
    let mut unknown = Vec::new();
    for d in diffs {
        match known.iter().find(|(_, rule)| rule(d)) {
            Some((why, _)) => *hits.entry(why).or_default() += 1,
            None => unknown.push(d),
        }
    }
    eprintln!("{name}: {compared} values compared, {} differ", diffs.len());
    for (why, n) in &hits {
        eprintln!("  known difference x{n}: {why}");
    }
    for d in &unknown {
        eprintln!("  UNKNOWN {d:?}");
    }
    assert!(
        unknown.is_empty(),
        "{} unexpected differences",
        unknown.len()
    );
    let stale: Vec<_> = hits
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(why, _)| *why)
        .collect();
    assert!(
        stale.is_empty(),
        "pinned differences no longer seen: {stale:#?}"
    );
}
