//! Creating a session (`voxflow new`, or `train` on a session that does not exist) and opening
//! an existing one.
//!
//! Creating never destroys a session: an existing directory is an error unless `force`. With
//! `force`, builder.toml, config.toml and the three id lists are rewritten (each atomically)
//! and the earlier run's outputs (checkpoints, TensorBoard events, observations, scores, the
//! training history) move into `previous_N/` in the session, so the rewritten session trains
//! from scratch and nothing is deleted; logs.txt stays and goes on.

use super::ids::write_ids;
use super::paths::SessionPaths;
use super::split::{SplitFractions, split_ids};
use super::{IdSet, Result, SessionError, atomic_write};
use crate::train::config::TrainConfig;
use std::path::{Path, PathBuf};

/// Creates the session `root/name`: writes `builder_toml` (the builder's text, as written by
/// the models module), `config` (validated), and the seeded split of `ids` into the three id
/// lists, and creates the empty subfolders. Everything is checked before anything is written.
/// Returns the session and, when `force` moved an earlier run's outputs aside, where to.
#[allow(clippy::too_many_arguments)]
pub fn create_session(
    root: &Path,
    name: &str,
    builder_toml: &str,
    config: &TrainConfig,
    ids: &[String],
    fractions: SplitFractions,
    seed: u64,
    force: bool,
) -> Result<(SessionPaths, Option<PathBuf>)> {
    let paths = SessionPaths::new(root, name)?;
    config.validate(&paths.config())?;
    if let Err(e) = builder_toml.parse::<toml::Table>() {
        return Err(SessionError::Usage(format!(
            "the builder text for {} is not valid TOML: {}",
            paths.builder().display(),
            e.message()
        )));
    }
    let split = split_ids(ids, fractions, seed)?;
    std::fs::create_dir_all(root).map_err(|e| SessionError::io(root, e))?;
    let dir = paths.dir();
    let fresh = match std::fs::create_dir(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !force {
                return Err(SessionError::Usage(format!(
                    "session {} already exists; use --force to rewrite its builder.toml, \
                     config.toml and id lists (its earlier run's outputs then move to \
                     previous_N/; logs.txt stays)",
                    dir.display()
                )));
            }
            if !dir.is_dir() {
                return Err(SessionError::invalid(dir, "exists and is not a directory"));
            }
            false
        }
        Err(e) => return Err(SessionError::io(dir, e)),
    };
    let moved = if fresh {
        Vec::new()
    } else {
        move_run_outputs_aside(&paths)?
    };
    let write = || -> Result<()> {
        paths.ensure_dirs()?;
        atomic_write(&paths.builder(), builder_toml.as_bytes())?;
        atomic_write(&paths.config(), config.to_toml().as_bytes())?;
        write_ids(&paths.ids(IdSet::Train), &split.train)?;
        write_ids(&paths.ids(IdSet::Val), &split.val)?;
        write_ids(&paths.ids(IdSet::Test), &split.test)
    };
    if let Err(e) = write() {
        if fresh {
            // Only what this call created is removed: the directory did not exist before.
            let _ = std::fs::remove_dir_all(dir);
        } else {
            put_back(&moved);
        }
        return Err(e);
    }
    let aside = moved
        .first()
        .and_then(|(_, to)| to.parent())
        .map(Path::to_path_buf);
    Ok((paths, aside))
}

/// Undoes [`move_run_outputs_aside`] (best effort: on the error path that needs it).
fn put_back(moved: &[(PathBuf, PathBuf)]) {
    for (from, to) in moved.iter().rev() {
        let _ = std::fs::rename(to, from);
    }
    if let Some(aside) = moved.first().and_then(|(_, to)| to.parent()) {
        let _ = std::fs::remove_dir(aside);
    }
}

/// Moves the outputs of the run in `paths` (the non-empty subfolders and the training
/// history) into the first free `previous_N/` of the session; returns each move `(from, to)`,
/// none when there was nothing to move. A failed move puts the earlier ones back.
fn move_run_outputs_aside(paths: &SessionPaths) -> Result<Vec<(PathBuf, PathBuf)>> {
    let has_content = |p: &Path| {
        std::fs::read_dir(p)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false)
    };
    let mut outputs: Vec<PathBuf> = paths
        .subdirs()
        .into_iter()
        .filter(|d| has_content(d))
        .collect();
    if paths.history().is_file() {
        outputs.push(paths.history());
    }
    if outputs.is_empty() {
        return Ok(Vec::new());
    }
    let aside = (1..)
        .map(|n| paths.dir().join(format!("previous_{n}")))
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::create_dir(&aside).map_err(|e| SessionError::io(&aside, e))?;
    let mut moved = Vec::with_capacity(outputs.len());
    for from in outputs {
        let to = aside.join(from.file_name().expect("a session path"));
        if let Err(e) = std::fs::rename(&from, &to) {
            put_back(&moved);
            let _ = std::fs::remove_dir(&aside);
            return Err(SessionError::io(&from, e));
        }
        moved.push((from, to));
    }
    Ok(moved)
}

/// Opens the existing session `root/name`: the directory, builder.toml, config.toml and the
/// three id lists must exist (the error lists everything missing). Missing subfolders are
/// created.
pub fn open_session(root: &Path, name: &str) -> Result<SessionPaths> {
    let paths = SessionPaths::new(root, name)?;
    let dir = paths.dir();
    if !dir.is_dir() {
        return Err(SessionError::Usage(format!(
            "no session {name:?}: {} is not a directory (create it with `voxflow new {name}`)",
            dir.display()
        )));
    }
    let mut files = vec![paths.builder(), paths.config()];
    files.extend(IdSet::ALL.map(|s| paths.ids(s)));
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !f.is_file())
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    if !missing.is_empty() {
        return Err(SessionError::invalid(
            dir,
            format!("incomplete session: missing {}", missing.join(", ")),
        ));
    }
    paths.ensure_dirs()?;
    Ok(paths)
}
