//! The `shared` store in tests: a fresh directory per test and the policy
//! that puts a guard's counters in a file there.

use std::path::{Path, PathBuf};

use loginguard::{ErrorKind, Guard, Policy, StoreKind};

/// The shared-store policy for the file at `path`, with `capacity` slots.
pub fn policy(path: &Path, capacity: usize) -> Policy {
    let mut p = Policy::default();
    p.store.kind = StoreKind::Shared;
    p.store.path = Some(path.to_path_buf());
    p.store.capacity = capacity;
    p
}

/// An empty directory `loginguard-{prefix}-{pid}-{name}` in the temp dir.
pub fn temp_dir(prefix: &str, name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("loginguard-{prefix}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A store path, not yet made, in a fresh [`temp_dir`].
pub fn temp_store(prefix: &str, name: &str) -> PathBuf {
    temp_dir(prefix, name).join("counters.store")
}

/// Asserts that opening the store at `path` failed with a store error that
/// names the path and says `needle`.
#[track_caller]
pub fn refused(result: loginguard::Result<Guard>, path: &Path, needle: &str) {
    let err = result.map(|_| ()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}
