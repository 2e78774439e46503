//! A directory of the test's own for the files it writes.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// A directory of its own under the system's temporary directory, removed
/// on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/lorawan-stack-<name>-<pid>-<random>`, created.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "lorawan-stack-{name}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path of `file` in the directory.
    pub fn join(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
