//! Helpers shared by unit tests across the crate, and by the integration tests (which include
//! this file from `tests/common/mod.rs`): the one scratch-directory helper, [`TempDir`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, uniquely named, existing directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    /// `voxflow-<tag>-<pid>-<n>`, emptied and created.
    pub(crate) fn new(tag: &str) -> Self {
        let dir = Self::absent(tag);
        std::fs::create_dir_all(&dir.0).expect("create a test directory");
        dir
    }

    /// A fresh path like [`TempDir::new`]'s that does not exist yet (for code that must create
    /// it, or must not), removed on drop all the same.
    pub(crate) fn absent(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("voxflow-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    /// The path, kept: the directory outlives the value (the integration tests' data, shared
    /// by a test binary's tests or left for a look after a failure).
    #[allow(dead_code)] // used by the integration tests, which include this file
    pub(crate) fn keep(self) -> PathBuf {
        let path = self.0.clone();
        std::mem::forget(self);
        path
    }

    /// `name` inside the directory.
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
