//! What the integration tests share: the crate's scratch-directory helper (the same file the
//! unit tests use) and the comparison of training runs' checkpoints.
#![allow(dead_code)] // each test binary uses part of it

#[path = "../../src/testutil.rs"]
mod testutil;

use std::path::Path;
pub(crate) use testutil::TempDir;

/// Asserts that the checkpoints `a` and `b` hold the same tensor names and, for every one,
/// the same bytes, and then that the files are identical (`what` names the comparison in a
/// failure).
pub fn assert_same_checkpoints(a: &Path, b: &Path, what: &str) {
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let (a_bytes, b_bytes) = (read(a), read(b));
    let a = safetensors::SafeTensors::deserialize(&a_bytes).unwrap();
    let b = safetensors::SafeTensors::deserialize(&b_bytes).unwrap();
    let (mut names, mut names_b) = (a.names(), b.names());
    names.sort();
    names_b.sort();
    assert_eq!(names, names_b, "{what}: tensor names");
    assert!(names.len() > 10, "{what}: a whole network's tensors");
    for n in names {
        assert!(
            a.tensor(n).unwrap().data() == b.tensor(n).unwrap().data(),
            "{what}: tensor {n} differs"
        );
    }
    // And the metadata (epoch, RNG, generator position, ...): the files are the same bytes.
    assert!(
        a_bytes == b_bytes,
        "{what}: same tensors, but the files differ"
    );
}

/// Runs the `voxflow` binary with `args` as a user would, echoing what it printed (shown when a
/// test fails).
pub fn voxflow(args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_voxflow"))
        .args(args)
        .output()
        .expect("run voxflow");
    eprintln!(
        "voxflow {args:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
