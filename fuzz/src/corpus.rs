//! Reading a checked-in fuzz corpus, for the replay tests of the workspace
//! crates (included by path: `#[path = "../../fuzz/src/corpus.rs"] mod corpus;`
//! from `<crate>/tests/`).

use std::path::PathBuf;

/// Every input of the workspace's `fuzz/corpus/<target>/`, sorted; panics when the corpus is
/// missing or empty (a replay test must replay something).
pub(crate) fn corpus(target: &str) -> Vec<Vec<u8>> {
    // The crate is one or two levels below the workspace root (`ns-core/`,
    // `bins/lorawan-sim/`).
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|d| d.join("fuzz/corpus").is_dir())
        .unwrap_or(&manifest);
    let dir = root.join("fuzz/corpus").join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.expect("corpus entry").path()).expect("corpus file"))
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "empty corpus {}", dir.display());
    inputs
}
