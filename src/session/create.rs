//! Creating a session (`voxflow new`, or `train` on a session that does not exist) and opening
//! an existing one.
//!
//! Creating never destroys a session: an existing directory is an error unless `force`. With
//! `force`, builder.toml, config.toml and the three id lists are rewritten (each atomically,
//! their earlier versions copied into `previous_N/` in the session) and the earlier run's
//! outputs (checkpoints, TensorBoard events, observations, scores, the training history) move
//! there too, so the rewritten session trains from scratch and nothing is lost; logs.txt stays
//! and goes on.

use super::ids::write_ids;
use super::lock::SessionLock;
use super::paths::SessionPaths;
use super::split::Split;
use super::{IdSet, Result, SessionError, atomic_write};
use crate::models::BuilderConfig;
use crate::session::config::TrainConfig;
use std::path::{Path, PathBuf};

/// Creates the session `root/name`: writes `builder` and `config` (both validated) and
/// `split` (from [`split_ids`](super::split_ids)) into the three id lists, and creates the
/// empty subfolders. Everything is checked before anything is written.
/// Returns the session and, when `force` set an earlier run aside, where to.
pub fn create_session(
    root: &Path,
    name: &str,
    builder: &BuilderConfig,
    config: &TrainConfig,
    split: &Split,
    force: bool,
) -> Result<(SessionPaths, Option<PathBuf>)> {
    let paths = SessionPaths::new(root, name)?;
    config.validate(&paths.config())?;
    builder.validate(&paths.builder())?;
    let builder_toml = builder.to_toml();
    std::fs::create_dir_all(root).map_err(|e| SessionError::io(root, e))?;
    let dir = paths.dir();
    let fresh = match std::fs::create_dir(dir) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if !force {
                return Err(SessionError::Exists {
                    dir: dir.to_path_buf(),
                });
            }
            if !dir.is_dir() {
                return Err(SessionError::invalid(dir, "exists and is not a directory"));
            }
            false
        }
        Err(e) => return Err(SessionError::io(dir, e)),
    };
    // Held while the files are written: a run changing the session now is an error, and a
    // run started meanwhile finds it taken.
    let _lock = SessionLock::acquire(&paths, "voxflow new")?;
    let aside = if fresh {
        None
    } else {
        set_earlier_run_aside(&paths)?
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
        } else if let Some(aside) = &aside {
            // Some files may already be rewritten: the copies are now the originals.
            aside.undo(true);
        }
        return Err(e);
    }
    Ok((paths, aside.map(|a| a.dir)))
}

/// An earlier run set aside in `previous_N/` by `--force`: its outputs moved there, its
/// configuration files copied there (they are about to be rewritten).
struct Aside {
    dir: PathBuf,
    /// `(original, where it went)` of each moved output.
    moved: Vec<(PathBuf, PathBuf)>,
    /// `(original, copy)` of each configuration file.
    copied: Vec<(PathBuf, PathBuf)>,
}

impl Aside {
    /// Puts the moved outputs back and removes the folder (best effort: on the error path that
    /// needs it). The copies go back over their originals when `restore` (the originals may
    /// have been rewritten), else they are deleted.
    fn undo(&self, restore: bool) {
        for (from, to) in self.moved.iter().rev() {
            let _ = std::fs::rename(to, from);
        }
        for (original, copy) in &self.copied {
            let _ = match restore {
                true => std::fs::rename(copy, original),
                false => std::fs::remove_file(copy),
            };
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Sets the run in `paths` aside in the first free `previous_N/` of the session: copies its
/// builder.toml, config.toml and id lists there, and moves its outputs (the non-empty
/// subfolders and the training history). None when the session holds none of these. A failure
/// undoes what was done.
fn set_earlier_run_aside(paths: &SessionPaths) -> Result<Option<Aside>> {
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
    let mut configuration = vec![paths.builder(), paths.config()];
    configuration.extend(IdSet::ALL.map(|s| paths.ids(s)));
    configuration.retain(|f| f.is_file());
    if outputs.is_empty() && configuration.is_empty() {
        return Ok(None);
    }
    let dir = (1..)
        .map(|n| paths.dir().join(format!("previous_{n}")))
        .find(|p| !p.exists())
        .expect("a free name");
    std::fs::create_dir(&dir).map_err(|e| SessionError::io(&dir, e))?;
    let mut aside = Aside {
        dir,
        moved: Vec::with_capacity(outputs.len()),
        copied: Vec::with_capacity(configuration.len()),
    };
    let name = |p: &Path| p.file_name().expect("a session path").to_owned();
    for from in configuration {
        let to = aside.dir.join(name(&from));
        if let Err(e) = std::fs::copy(&from, &to) {
            aside.undo(false);
            return Err(SessionError::io(&from, e));
        }
        aside.copied.push((from, to));
    }
    for from in outputs {
        let to = aside.dir.join(name(&from));
        if let Err(e) = std::fs::rename(&from, &to) {
            aside.undo(false);
            return Err(SessionError::io(&from, e));
        }
        aside.moved.push((from, to));
    }
    Ok(Some(aside))
}

/// Opens the existing session `root/name`: the directory, builder.toml, config.toml and the
/// three id lists must exist (the error lists everything missing). Missing subfolders are
/// created.
pub fn open_session(root: &Path, name: &str) -> Result<SessionPaths> {
    let paths = SessionPaths::new(root, name)?;
    let dir = paths.dir();
    if !dir.is_dir() {
        return Err(SessionError::NotFound {
            name: name.to_string(),
            dir: dir.to_path_buf(),
        });
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
