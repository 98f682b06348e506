//! Where each file of a session lives, the sessions root, session names, and checkpoint file
//! names (`chkpt_XX.safetensors`: the 1-based epoch with at least two digits).

use super::{Result, SessionError};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the default sessions root.
pub const SESSIONS_ENV: &str = "VOXFLOW_SESSIONS";

/// The sessions root: `flag` (`--sessions-dir`), else `$VOXFLOW_SESSIONS` when set and not
/// empty, else `sessions`.
pub fn sessions_root(flag: Option<PathBuf>) -> PathBuf {
    root_from(flag, std::env::var_os(SESSIONS_ENV))
}

fn root_from(flag: Option<PathBuf>, env: Option<OsString>) -> PathBuf {
    flag.or_else(|| env.filter(|e| !e.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("sessions"))
}

/// The three id lists of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdSet {
    Train,
    Val,
    Test,
}

impl IdSet {
    /// All three, in order.
    pub const ALL: [IdSet; 3] = [IdSet::Train, IdSet::Val, IdSet::Test];

    /// `train`, `val` or `test` (the `--set` name and the file prefix).
    pub fn name(self) -> &'static str {
        match self {
            IdSet::Train => "train",
            IdSet::Val => "val",
            IdSet::Test => "test",
        }
    }
}

impl std::str::FromStr for IdSet {
    type Err = SessionError;
    fn from_str(s: &str) -> Result<Self> {
        IdSet::ALL
            .into_iter()
            .find(|set| set.name() == s)
            .ok_or_else(|| {
                SessionError::Usage(format!("unknown set {s:?}: expected train, val or test"))
            })
    }
}

/// Checks a session name: not empty, no path separator, no leading dot, no control character.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.contains(['/', '\\']) {
        "it contains a path separator"
    } else if name.starts_with('.') {
        "it starts with a dot"
    } else if name.chars().any(char::is_control) {
        "it contains a control character"
    } else {
        return Ok(());
    };
    Err(SessionError::InvalidName {
        name: name.to_string(),
        why,
    })
}

/// The file name of the checkpoint after `epoch` (1-based): `chkpt_01.safetensors`,
/// `chkpt_123.safetensors`.
pub fn checkpoint_name(epoch: u32) -> String {
    format!("chkpt_{epoch:02}.safetensors")
}

/// A checkpoint's epoch as the user reads it: `epoch 3`, or `epoch 3, cut short after 5 steps`
/// for one written when Ctrl-C stopped the epoch.
pub fn epoch_label(epoch: u32, cut_short_after: Option<u64>) -> String {
    match cut_short_after {
        Some(steps) => format!("epoch {epoch}, cut short after {steps} steps"),
        None => format!("epoch {epoch}"),
    }
}

/// The epoch of a checkpoint file name written by [`checkpoint_name`] (exactly that form:
/// `chkpt_1.safetensors` or `chkpt_001.safetensors` are not ours).
pub fn parse_checkpoint_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("chkpt_")?.strip_suffix(".safetensors")?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let epoch: u32 = digits.parse().ok()?;
    (checkpoint_name(epoch) == name).then_some(epoch)
}

/// The paths of one session, `<root>/<name>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionPaths {
    dir: PathBuf,
    name: String,
}

impl SessionPaths {
    /// The session `name` under `root` (the name is checked; nothing is touched on disk).
    pub fn new(root: &Path, name: &str) -> Result<Self> {
        check_name(name)?;
        Ok(SessionPaths {
            dir: root.join(name),
            name: name.to_string(),
        })
    }

    /// The session's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `builder.toml`.
    pub fn builder(&self) -> PathBuf {
        self.dir.join("builder.toml")
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// `checkpoints/`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.dir.join("checkpoints")
    }

    /// `checkpoints/chkpt_XX.safetensors` for a 1-based epoch.
    pub fn checkpoint_path(&self, epoch: u32) -> PathBuf {
        self.checkpoints_dir().join(checkpoint_name(epoch))
    }

    /// A checkpoint given on the command line: a bare file name (`chkpt_04.safetensors`) is
    /// looked up in `checkpoints/`, anything with a directory part is used as it is.
    pub fn resolve_checkpoint(&self, weights: &Path) -> PathBuf {
        if weights.components().count() == 1 {
            self.checkpoints_dir().join(weights)
        } else {
            weights.to_path_buf()
        }
    }

    /// `tensorboard/`.
    pub fn tensorboard_dir(&self) -> PathBuf {
        self.dir.join("tensorboard")
    }

    /// `observations/`.
    pub fn observations_dir(&self) -> PathBuf {
        self.dir.join("observations")
    }

    /// `observations/observations_XX/` for a 1-based epoch.
    pub fn observation_dir(&self, epoch: u32) -> PathBuf {
        self.observations_dir()
            .join(format!("observations_{epoch:02}"))
    }

    /// `scores/`.
    pub fn scores_dir(&self) -> PathBuf {
        self.dir.join("scores")
    }

    /// `scores/<set>_scores.csv`.
    pub fn scores(&self, set: IdSet) -> PathBuf {
        self.scores_dir().join(format!("{}_scores.csv", set.name()))
    }

    /// `<set>_ids.csv`.
    pub fn ids(&self, set: IdSet) -> PathBuf {
        self.dir.join(format!("{}_ids.csv", set.name()))
    }

    /// `training_history.json`.
    pub fn history(&self) -> PathBuf {
        self.dir.join("training_history.json")
    }

    /// `logs.txt`.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs.txt")
    }

    /// Whether `checkpoint` lies in this session's checkpoints folder (however the paths are
    /// spelt).
    pub fn owns_checkpoint(&self, checkpoint: &Path) -> bool {
        let canon = |p: &Path| std::fs::canonicalize(p).ok();
        let dir = checkpoint.parent().and_then(canon);
        dir.is_some() && dir == canon(&self.checkpoints_dir())
    }

    /// How `checkpoint` is named to the user: by its file name when it is this session's, by
    /// its path otherwise.
    pub fn checkpoint_label(&self, checkpoint: &Path) -> String {
        match checkpoint.file_name() {
            Some(name) if self.owns_checkpoint(checkpoint) => name.to_string_lossy().into_owned(),
            _ => checkpoint.display().to_string(),
        }
    }

    /// `train.lock`: locked (by the operating system) while a run or `voxflow new --force` is
    /// changing the session.
    pub fn lock(&self) -> PathBuf {
        self.dir.join("train.lock")
    }

    /// The subfolders every session has.
    pub fn subdirs(&self) -> [PathBuf; 4] {
        [
            self.checkpoints_dir(),
            self.tensorboard_dir(),
            self.observations_dir(),
            self.scores_dir(),
        ]
    }

    /// Creates the subfolders that are missing (existing content is left alone).
    pub fn ensure_dirs(&self) -> Result<()> {
        for d in self.subdirs() {
            std::fs::create_dir_all(&d).map_err(|e| SessionError::io(&d, e))?;
        }
        Ok(())
    }
}

/// The checkpoint of the highest epoch, `(epoch, path)`; `None` when there is none (or no
/// `checkpoints/` folder). Only names of the form `chkpt_XX.safetensors` count, so temporary
/// files of an interrupted write are ignored.
pub fn latest_checkpoint(paths: &SessionPaths) -> Result<Option<(u32, PathBuf)>> {
    let dir = paths.checkpoints_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SessionError::io(&dir, e)),
    };
    let mut best: Option<u32> = None;
    for entry in entries {
        let entry = entry.map_err(|e| SessionError::io(&dir, e))?;
        let is_file = entry
            .file_type()
            .is_ok_and(|t| t.is_file() || t.is_symlink());
        if let Some(epoch) = entry.file_name().to_str().and_then(parse_checkpoint_name)
            && is_file
        {
            best = best.max(Some(epoch));
        }
    }
    Ok(best.map(|e| (e, paths.checkpoint_path(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_prefers_the_flag_then_the_environment() {
        let env = Some(OsString::from("/env/sessions"));
        assert_eq!(
            root_from(Some("/flag".into()), env.clone()),
            PathBuf::from("/flag")
        );
        assert_eq!(root_from(None, env), PathBuf::from("/env/sessions"));
        assert_eq!(
            root_from(None, Some(OsString::new())),
            PathBuf::from("sessions")
        );
        assert_eq!(root_from(None, None), PathBuf::from("sessions"));
    }

    #[test]
    fn names_and_paths() {
        for bad in ["", "a/b", "a\\b", ".hidden", "..", "a\nb"] {
            let e = SessionPaths::new(Path::new("s"), bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("invalid session name"), "{bad:?}: {e}");
        }
        let p = SessionPaths::new(Path::new("root"), "run-1.a").unwrap();
        assert_eq!(
            p.checkpoint_path(1),
            Path::new("root/run-1.a/checkpoints/chkpt_01.safetensors")
        );
        assert_eq!(
            p.checkpoint_path(123),
            Path::new("root/run-1.a/checkpoints/chkpt_123.safetensors")
        );
        assert_eq!(
            p.observation_dir(7),
            Path::new("root/run-1.a/observations/observations_07")
        );
        assert_eq!(
            p.scores(IdSet::Val),
            Path::new("root/run-1.a/scores/val_scores.csv")
        );
        assert_eq!(p.ids(IdSet::Test), Path::new("root/run-1.a/test_ids.csv"));
        assert_eq!(p.history(), Path::new("root/run-1.a/training_history.json"));
        assert_eq!(
            p.resolve_checkpoint(Path::new("chkpt_02.safetensors")),
            Path::new("root/run-1.a/checkpoints/chkpt_02.safetensors")
        );
        assert_eq!(
            p.resolve_checkpoint(Path::new("/x/chkpt_02.safetensors")),
            Path::new("/x/chkpt_02.safetensors")
        );
        assert_eq!("val".parse::<IdSet>().unwrap(), IdSet::Val);
        assert!("valid".parse::<IdSet>().is_err());
    }

    #[test]
    fn checkpoint_names_parse_only_in_canonical_form() {
        assert_eq!(parse_checkpoint_name("chkpt_01.safetensors"), Some(1));
        assert_eq!(parse_checkpoint_name("chkpt_10.safetensors"), Some(10));
        assert_eq!(parse_checkpoint_name("chkpt_123.safetensors"), Some(123));
        for bad in [
            "chkpt_1.safetensors",
            "chkpt_001.safetensors",
            "chkpt_+1.safetensors",
            "chkpt_01.h5",
            ".chkpt_02.safetensors.tmp12",
            "chkpt_.safetensors",
        ] {
            assert_eq!(parse_checkpoint_name(bad), None, "{bad}");
        }
    }
}
