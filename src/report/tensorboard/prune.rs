//! Dropping the events an earlier run wrote past the point a new run starts from, as
//! TensorBoard's own "purge" of orphaned data would: a run resumed from an earlier checkpoint
//! (its later ones deleted), or started afresh, rewrites those steps, and TensorBoard would
//! otherwise plot two values at each of them.
//!
//! voxflow's events use two step scales: per-step tags (`step/…`) count training steps, every
//! other tag (epoch scalars, the observation image) counts epochs. An event is kept when its
//! step is at most the resume point on its own scale; `file_version` events always are.

use super::record::{frame, split_prefix};
use crate::fsutil::write_then_rename;
use crate::report::ReportError;
use std::path::{Path, PathBuf};

/// Where a new run continues: it writes epoch-scale events after `epoch` and step-scale
/// events after `step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    pub epoch: i64,
    pub step: i64,
}

/// The prefix of the per-step tags.
pub const STEP_TAG_PREFIX: &str = "step/";

/// What [`drop_events_after`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Events dropped, over all files.
    pub dropped: usize,
    /// Files whose torn last record (a write cut short) was removed.
    pub torn: usize,
    /// Files that could not be read (left as they are), with the reason.
    pub unreadable: Vec<String>,
}

/// Rewrites each event file in `dir` (`events.out.tfevents.*`) but `except` (the new run's
/// own) without its events past `point` (atomically; a file with none is not touched). A
/// missing `dir` has nothing to drop.
pub fn drop_events_after(
    dir: &Path,
    point: ResumePoint,
    except: &Path,
) -> Result<Pruned, ReportError> {
    let mut pruned = Pruned::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(ReportError::io(dir, e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.file_name() != except.file_name()
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("events.out.tfevents."))
        })
        .collect();
    files.sort();
    for path in files {
        match prune_file(&path, point) {
            Ok((n, torn)) => {
                pruned.dropped += n;
                pruned.torn += usize::from(torn);
            }
            Err(e) => pruned.unreadable.push(e.to_string()),
        }
    }
    Ok(pruned)
}

/// Drops the events of one file past `point`; returns how many, and whether a torn last
/// record (a write cut short) went too, as TensorBoard reads no further either. A record
/// failing its CRC leaves the file as it is (an error).
fn prune_file(path: &Path, point: ResumePoint) -> Result<(usize, bool), ReportError> {
    let bytes = std::fs::read(path).map_err(|e| ReportError::io(path, e))?;
    let (records, bad) = split_prefix(path, &bytes);
    let torn = match bad {
        None => false,
        Some(bad) if bad.truncated => true,
        Some(bad) => return Err(bad.error),
    };
    let mut kept = Vec::with_capacity(bytes.len());
    let mut dropped = 0;
    for (i, data) in records.iter().enumerate() {
        let ev = super::reader::decode_event(data).map_err(|msg| ReportError::Corrupt {
            path: path.to_path_buf(),
            record: i,
            msg: format!("bad Event message: {msg}"),
        })?;
        let tags = ev
            .scalars
            .iter()
            .map(|(t, _)| t.as_str())
            .chain(ev.images.iter().map(|im| im.tag.as_str()));
        let mut tags = tags.peekable();
        let keep = match tags.peek() {
            None => true,
            Some(_) => {
                let per_step = tags.all(|t| t.starts_with(STEP_TAG_PREFIX));
                ev.step <= if per_step { point.step } else { point.epoch }
            }
        };
        if keep {
            frame(&mut kept, data);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 || torn {
        replace(path, &kept).map_err(|e| ReportError::io(path, e))?;
    }
    Ok((dropped, torn))
}

/// Writes `bytes` over `path` through a temporary file and a rename. The temporary name holds
/// no `tfevents`, so TensorBoard never loads one a crash left behind.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_file_name(format!(".voxflow-prune.{}.tmp", std::process::id()));
    write_then_rename(&tmp, path, bytes)
}
